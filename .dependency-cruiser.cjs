/**
 * Which layer may import which (docs/ARCHITECTURE.md, "Layers"). Checked with the unit tests
 * (test/unit/architecture.test.ts): an import that breaks a rule fails ./scripts/test. There are
 * no exceptions.
 */
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'wire-is-a-leaf',
      comment: 'wire/ holds views over bytes: it imports nothing from another layer.',
      severity: 'error',
      from: { path: '^src/wire/' },
      to: { path: '^(src/(?!wire/)|firmware/)' },
    },
    {
      name: 'mem-is-a-leaf',
      comment: 'mem/ holds the arena, the page pool and the Page handle: it imports nothing above it (wire/ at most).',
      severity: 'error',
      from: { path: '^src/mem/' },
      to: { path: '^(src/(?!mem/|wire/)|firmware/)' },
    },
    {
      name: 'firmware-below-the-driver',
      comment: 'The firmware is the NIC: it knows memory, bytes and the clock, never the driver or anything above it.',
      severity: 'error',
      from: { path: '^firmware/' },
      to: { path: '^src/(?!mem/|wire/|clock\\.ts$)' },
    },
    {
      name: 'tcp-not-udp',
      comment: 'TCP and UDP are two transports side by side: neither imports the other.',
      severity: 'error',
      from: { path: '^src/tcp/' },
      to: { path: '^src/udp/' },
    },
    {
      name: 'tcp-not-the-nic',
      comment: 'TCP hands segments to the interface; descriptors, offsets and virtio-net are below it.',
      severity: 'error',
      from: { path: '^src/tcp/' },
      to: { path: '^(src/nic/|src/tap/|firmware/)' },
    },
    {
      name: 'udp-not-the-nic',
      comment: 'UDP hands datagrams to the interface, as TCP does; descriptors, offsets and virtio-net are below it, sockets and TCP beside or above.',
      severity: 'error',
      from: { path: '^src/udp/' },
      to: { path: '^(src/nic/|src/tap/|src/tcp/|src/socket/|firmware/)' },
    },
    {
      name: 'socket-not-the-interface',
      comment: 'The socket sees TCP, UDP and payload objects, never the interface, the NIC or the device.',
      severity: 'error',
      from: { path: '^src/socket/' },
      to: { path: '^(src/iface/|src/nic/|src/tap/|firmware/)' },
    },
    {
      name: 'iface-not-the-firmware',
      comment: 'The interface reads what the driver reports of a frame, not the firmware\'s descriptor bits.',
      severity: 'error',
      from: { path: '^src/iface/' },
      to: { path: '^(firmware/|src/tap/)' },
    },
    {
      name: 'dhcp-dns-on-udp',
      comment: 'The DHCP client and the DNS resolver are UDP applications inside the stack: they bind ports on the UDP layer and see no interface, NIC, TCP or socket (the host and the TCP retry come in as seams).',
      severity: 'error',
      from: { path: '^src/(dhcp|dns)/' },
      to: { path: '^(src/(iface|nic|tap|phy|pcap|tcp|socket|apps)/|firmware/)' },
    },
    {
      name: 'nothing-below-imports-dhcp-dns',
      comment: 'Only the composition (Stack, the CLI) starts the DHCP client and the resolver.',
      severity: 'error',
      from: { path: '^(src/(wire|mem|tap|phy|nic|pcap|iface|tcp|udp|socket|apps)/|firmware/)' },
      to: { path: '^src/(dhcp|dns)/' },
    },
    {
      name: 'nothing-above-imports-down-into-the-cli',
      comment: 'The CLI, the testing module and Stack compose the layers; no layer imports them (applications use Stack, but not the CLI).',
      severity: 'error',
      from: { path: '^(src/(?!cli/|testing/|apps/)|firmware/)', pathNot: '^src/index\\.ts$' },
      to: { path: '^src/(cli/|stack\\.ts$)' },
    },
    {
      name: 'apps-on-the-public-surface',
      comment: 'Applications (src/apps/) run on Stack, sockets and pages, as a user of tapstack would: nothing below the socket, and not the CLI.',
      severity: 'error',
      from: { path: '^src/apps/' },
      to: { path: '^(src/(tcp|udp|iface|nic|tap|phy|pcap|cli|testing)/|firmware/)' },
    },
    {
      name: 'apps-only-below-the-cli',
      comment: 'The CLI starts applications; no layer of the stack imports one.',
      severity: 'error',
      from: { path: '^(src/(?!cli/|apps/)|firmware/)' },
      to: { path: '^src/apps/' },
    },
    {
      name: 'testing-is-its-own-entry',
      comment: 'tapstack/testing sits above the stack, like the CLI: nothing else imports it, not even the main entry (src/index.ts), so using tapstack never loads the test harness.',
      severity: 'error',
      from: { path: '^(src/(?!testing/)|firmware/)' },
      to: { path: '^src/testing/' },
    },
    {
      name: 'lower-layers-not-upward',
      comment: 'Dependencies point down: socket -> tcp, udp -> iface -> nic -> firmware -> device.',
      severity: 'error',
      from: { path: '^(src/(wire|mem|tap|phy|nic|pcap)/|firmware/)' },
      to: { path: '^src/(iface|tcp|udp|socket)/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    exclude: { path: '^(dist|test|node_modules)/' },
  },
};
