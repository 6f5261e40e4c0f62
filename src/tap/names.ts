/** Checks of what the kernel would refuse, made before asking it: the messages say what to fix. */
import { TapError } from './errors.js';
import { IFNAMSIZ, TAP_MAX_MTU, TAP_MIN_MTU } from './ioctl.js';

/** Interface names the kernel accepts (net/core/dev.c dev_valid_name). */
export function validateIfName(name: string): void {
  if (
    typeof name !== 'string' ||
    name.length === 0 ||
    name.length >= IFNAMSIZ ||
    name === '.' ||
    name === '..' ||
    /[\s/:]/.test(name) ||
    // eslint-disable-next-line no-control-regex
    /[^\x21-\x7e]/.test(name)
  ) {
    throw new TapError('EINVALNAME', `invalid interface name ${JSON.stringify(name)}: 1-15 printable characters, no '/', ':' or space`);
  }
}

export function validateMtu(mtu: number): void {
  if (!Number.isInteger(mtu) || mtu < TAP_MIN_MTU || mtu > TAP_MAX_MTU) {
    throw new TapError('EMTU', `MTU ${mtu} out of range: a TAP takes ${TAP_MIN_MTU}..${TAP_MAX_MTU}`);
  }
}
