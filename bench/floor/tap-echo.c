/*
 * The floor of a ping over TAP on this machine: a process that does nothing but answer ARP and
 * ICMP echo requests for one address on a TAP device it creates, woken by epoll as tapstack is
 * by libuv. scripts/bench pings it beside tapstack, so that the figure tapstack is compared with
 * includes what any userspace stack over TAP pays (the TAP's write path, the wake-up of a
 * sleeping process) and nothing of a runtime: what is left is tapstack's own.
 *
 *   cc -O2 -o tap-echo tap-echo.c && ip netns exec NS ./tap-echo tap0 198.18.188.2
 *
 * It prints "ready" once the TAP exists (the caller then gives the kernel's side an address and
 * brings it up), and runs until killed.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <unistd.h>

/* The Internet checksum (RFC 1071) of n bytes. */
static uint16_t checksum(const uint8_t *p, int n) {
  uint32_t s = 0;
  for (int i = 0; i + 1 < n; i += 2) s += (uint32_t)(p[i] << 8 | p[i + 1]);
  if (n & 1) s += (uint32_t)(p[n - 1] << 8);
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return (uint16_t)~s;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s IFNAME IPV4\n", argv[0]);
    return 2;
  }
  const uint8_t mac[6] = {0x02, 0x00, 0x00, 0x00, 0xec, 0x01};
  uint8_t ip[4];
  if (inet_pton(AF_INET, argv[2], ip) != 1) {
    fprintf(stderr, "bad address %s\n", argv[2]);
    return 2;
  }
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK);
  struct ifreq ifr = {0};
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
  snprintf(ifr.ifr_name, IFNAMSIZ, "%s", argv[1]);
  if (fd < 0 || ioctl(fd, TUNSETIFF, &ifr) < 0) {
    perror("TAP");
    return 1;
  }
  int ep = epoll_create1(0);
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
  epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
  printf("ready\n");
  fflush(stdout);
  uint8_t f[2048];
  for (;;) {
    struct epoll_event e;
    if (epoll_wait(ep, &e, 1, -1) <= 0) continue;
    int n;
    while ((n = (int)read(fd, f, sizeof f)) > 0) {
      if (n >= 42 && f[12] == 0x08 && f[13] == 0x06 && f[21] == 1 && memcmp(f + 38, ip, 4) == 0) {
        /* ARP request for our address: the reply goes back to the asker. */
        memcpy(f, f + 6, 6);
        memcpy(f + 6, mac, 6);
        f[21] = 2;
        memcpy(f + 32, f + 22, 10);
        memcpy(f + 22, mac, 6);
        memcpy(f + 28, ip, 4);
        if (write(fd, f, 42) < 0) perror("write");
      } else if (n >= 42 && f[12] == 0x08 && f[13] == 0x00 && f[23] == 1 && memcmp(f + 30, ip, 4) == 0) {
        int ihl = (f[14] & 15) * 4, total = f[16] << 8 | f[17];
        if (14 + total > n || total < ihl + 8 || f[14 + ihl] != 8) continue;
        uint8_t a[4];
        memcpy(f, f + 6, 6);
        memcpy(f + 6, mac, 6);
        memcpy(a, f + 26, 4);
        memcpy(f + 26, f + 30, 4);
        memcpy(f + 30, a, 4);
        f[24] = f[25] = 0;
        uint16_t c = checksum(f + 14, ihl);
        f[24] = (uint8_t)(c >> 8);
        f[25] = (uint8_t)c;
        uint8_t *icmp = f + 14 + ihl;
        icmp[0] = 0;
        icmp[2] = icmp[3] = 0;
        c = checksum(icmp, total - ihl);
        icmp[2] = (uint8_t)(c >> 8);
        icmp[3] = (uint8_t)c;
        if (write(fd, f, (size_t)(14 + total)) < 0) perror("write");
      }
    }
  }
}
