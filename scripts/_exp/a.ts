import { execa } from 'execa';
if (process.argv[2] === 'x') console.log(typeof execa);
