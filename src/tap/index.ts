export type { FrameDevice } from '../../firmware/device.js';
export * from './errors.js';
export { TapDevice, VNET_HDR_LEN, validateIfName, validateMtu, setInterfaceMtu, configureHostSide, setLinkUp, setTxQueueLength } from './tap-device.js';
export type { TapOptions } from './tap-device.js';
export { MemoryDevice } from './memory-device.js';
export { MAIN_QUEUE, SYN_QUEUE, steeringQueueOf, assembleSteeringProgram } from './steering.js';
