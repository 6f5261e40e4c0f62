export * from './arena.js';
export * from './page-pool.js';
export * from './page.js';
