export type { FrameDevice } from '../../firmware/device.js';
export * from './errors.js';
export { TapDevice, VNET_HDR_LEN, validateIfName, validateMtu } from './tap-device.js';
export type { TapOptions, IoMode, IoPath } from './tap-device.js';
export {
  setInterfaceMtu,
  configureHostSide,
  setLinkUp,
  setTxQueueLength,
  ensureInterfaceMtu,
  ensureTxQueueLength,
  ensureHostSide,
  formatSkipped,
} from './host-side.js';
export type { SkippedSetting } from './host-side.js';
export { queryLink } from './link.js';
export type { LinkInfo, TunInfo } from './link.js';
export { MemoryDevice } from './memory-device.js';
export { MAIN_QUEUE, SYN_QUEUE, steeringQueueOf, assembleSteeringProgram } from './steering.js';
