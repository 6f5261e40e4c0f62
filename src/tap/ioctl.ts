/**
 * ioctl request numbers and struct ifreq layout (x86_64), from <linux/if_tun.h>,
 * <linux/sockios.h> and <net/if.h>. Checked on Linux 6.18 (docs/ARCHITECTURE.md section 9).
 */
export const TUNSETIFF = 0x400454ca;
export const TUNSETOFFLOAD = 0x400454d0;
export const TUNSETVNETHDRSZ = 0x400454d8;
export const TUNGETFEATURES = 0x800454cf;
/** _IOR('T', 224, int): attach an eBPF program that picks the queue of each frame. */
export const TUNSETSTEERINGEBPF = 0x800454e0;

export const IFF_TUN = 0x0001;
export const IFF_TAP = 0x0002;
export const IFF_NO_PI = 0x1000;
export const IFF_VNET_HDR = 0x4000;
export const IFF_MULTI_QUEUE = 0x0100;
/**
 * TUNSETIFF fails with EBUSY if the device exists: a TAP tapstack means to create is created,
 * never one that appeared meanwhile attached to by accident. Existing TAPs are attached to only
 * after queryLink (link.ts) found them idle (tap-device.ts).
 */
export const IFF_TUN_EXCL = 0x8000;

/** TUNSETOFFLOAD bits: what the kernel may hand us (and accepts from us) unfinished. */
export const TUN_F_CSUM = 0x01;
export const TUN_F_TSO4 = 0x02;
export const TUN_F_TSO6 = 0x04;
export const TUN_F_TSO_ECN = 0x08;
/** UDP segmentation offload (Linux >= 6.2); tun accepts the two only together (tun.c set_offload). */
export const TUN_F_USO4 = 0x20;
export const TUN_F_USO6 = 0x40;

export const SIOCGIFFLAGS = 0x8913;
export const SIOCSIFFLAGS = 0x8914;
export const SIOCGIFADDR = 0x8915;
export const SIOCSIFADDR = 0x8916;
export const SIOCGIFNETMASK = 0x891b;
export const SIOCSIFNETMASK = 0x891c;
export const SIOCGIFMTU = 0x8921;
export const SIOCSIFMTU = 0x8922;
export const SIOCGIFHWADDR = 0x8927;
export const SIOCGIFTXQLEN = 0x8942;
export const SIOCSIFTXQLEN = 0x8943;

export const IFF_UP = 0x1;
export const IFF_RUNNING = 0x40;

/** sizeof(struct ifreq) on x86_64; ifr_name[16] at 0, the union at 16. */
export const IFREQ_SIZE = 40;
/** IFNAMSIZ includes the terminating NUL. */
export const IFNAMSIZ = 16;

/** TAP MTU range the kernel accepts (ETH_MIN_MTU .. 65535 - ETH_HLEN - vnet header slack). */
export const TAP_MIN_MTU = 68;
export const TAP_MAX_MTU = 65521;

export function ifreq(name: string): Uint8Array {
  const b = new Uint8Array(IFREQ_SIZE);
  for (let i = 0; i < name.length; i++) b[i] = name.charCodeAt(i);
  return b;
}
