export * from './rx-frame.js';
export * from './nic.js';
