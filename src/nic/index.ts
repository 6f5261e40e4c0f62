export * from './arena.js';
export * from './page-pool.js';
export * from './rx-frame.js';
export * from './nic.js';
