/**
 * How sockets and servers keep the process alive. A libuv handle is ref'd or not; tapstack's
 * sockets have no handle of their own but share the stack's (the TAP's poll handle and the
 * stack's timer). Each ref'd open socket and ref'd listening server holds the stack; the stack
 * keeps its handles ref'd while anything holds it, so an idle stack whose sockets and servers
 * are all unref'd lets the process exit, as Node's net does with unref'd handles.
 */
export interface RefHolder {
  hold(): void;
  release(): void;
}
