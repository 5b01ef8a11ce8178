// Write-first output for bufferevents: bytes are written to the socket at once from the loop
// callback that produced them, and the bufferevent's write event (two epoll_ctl calls per
// response) is only registered when the kernel does not take everything. Connections keep
// EV_WRITE disabled while their output is empty. Loop thread only.
#pragma once

struct bufferevent;

namespace portico::proxy {

// Writes what `bev`'s output holds. Returns true when the output is empty afterwards; otherwise
// EV_WRITE is enabled so the bufferevent finishes the job (and reports errors through its event
// callback, never from here), and the write callback should call write_drained() when done.
bool flush_now(bufferevent* bev);
// From a write callback: stops watching for writability once the output is empty.
void write_drained(bufferevent* bev);
// Reads once from `fd` into `bev`'s input with one readv into reserved space (no ioctl, unlike
// evbuffer_read). For bufferevents whose reading we do ourselves (EV_READ disabled on them).
// Returns what readv returned (errno is preserved).
long read_once(bufferevent* bev, int fd);
// The local port `bev`'s socket is bound to (getsockname; 0 when unknown), for X-Forwarded-Port.
unsigned short local_port_of(const bufferevent* bev);

}  // namespace portico::proxy
