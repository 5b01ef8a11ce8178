// Write-first output for bufferevents: bytes are written to the socket at once from the loop
// callback that produced them, and the bufferevent's write event (two epoll_ctl calls per
// response) is only registered when the kernel does not take everything. Connections keep
// EV_WRITE disabled while their output is empty. Loop thread only.
#pragma once

#include <cstddef>
#include <string_view>

struct bufferevent;
struct evbuffer;

namespace portico::proxy {

// The largest single write of a connection: flush_now() writes at most this much per call and
// leaves the rest to the write event, send_direct() sends a head plus at most this much body, and
// libevent's own write callback is set to the same limit (set_write_slice; its default is 16 KiB),
// so a large body goes a slice per writability event after the first callback's (at most two)
// writes. Like nginx's sendfile_max_chunk it keeps one large response from holding the loop for
// its whole copy. It also matters for the kernel's
// cost: with BBR, whose pacing runs on TCP's own timers unless the qdisc is fq, a 1 MiB hit
// written in one sendmsg cost twice the CPU of the same hit in two 512 KiB writes (measured on
// loopback: docs/benchmarks.md, session 13); with CUBIC both cost the same.
constexpr size_t kWriteSlice = 512 * 1024;
// Sets libevent's per-callback write limit of `bev` to kWriteSlice.
void set_write_slice(bufferevent* bev);

// Writes what `bev`'s output holds, up to kWriteSlice bytes. Returns true when the output is empty
// afterwards; otherwise EV_WRITE is enabled so the bufferevent finishes the job (and reports errors
// through its event callback, never from here), and the write callback should call write_drained()
// when done. Memory-only output (`may_hold_files` false) goes out with send/sendmsg, which skip the
// file layer (position lock, permission hooks) that libevent's writev goes through; output that may
// hold file segments (sendfile) is written by libevent.
bool flush_now(bufferevent* bev, bool may_hold_files = true);
// When `bev`'s output is empty and not waiting for writability: one send/sendmsg of `a` then `b`
// from the caller's memory: `a` (a head) and at most kWriteSlice bytes of `b` (a body), so a
// body of two slices leaves in two writes rather than two and a head-sized tail. Returns the bytes
// the kernel took (0 also on EAGAIN or an error, which then surfaces through the bufferevent when
// the caller queues the rest).
size_t send_direct(bufferevent* bev, std::string_view a, std::string_view b);
// TLS output, for a bufferevent from bufferevent_openssl_socket_new after its handshake: moves
// `staging` to `bev`'s output, joined into one chain first when it is at most `join_limit` bytes
// (OpenSSL's bufferevent makes one SSL_write, a record and a syscall, per chain). That bufferevent
// writes only when its write event fires, so output queued from a read callback would wait a poll
// for EPOLLOUT; when nothing was waiting in the output, the write event is made active instead,
// and libevent runs the bufferevent's own write path (its blocking and error handling unchanged)
// after the current callback, in the same loop iteration. When bytes were already waiting, the
// socket is full and the registered write event carries on. Returns the bytes handed over.
size_t tls_hand_over(bufferevent* bev, evbuffer* staging, size_t join_limit);
// From the BEV_EVENT_CONNECTED callback of such a bufferevent, which was created with EV_WRITE
// disabled (the handshake registers writability itself when OpenSSL needs it):
// - enables writing without watching for writability while the output is empty (an enabled
//   write event with nothing to write costs an EPOLLOUT wake-up and two epoll_ctl calls per
//   connection; queuing output registers it, libevent's output callback);
// - runs the read path later in this iteration: clients send their first request (or HTTP/2
//   preface) right behind their Finished message, so it is usually in the socket already, and
//   libevent would wait for the next poll to read it (one read finds EAGAIN when nothing came).
void tls_handshake_done(bufferevent* bev);
// From a write callback: stops watching for writability once the output is empty.
void write_drained(bufferevent* bev);
// Reads once from `fd` into `bev`'s input with one recv/recvmsg into reserved space (no ioctl,
// unlike evbuffer_read; no file layer, unlike readv). For bufferevents whose reading we do
// ourselves (EV_READ disabled on them). Returns what the call returned (errno is preserved).
long read_once(bufferevent* bev, int fd);
// The local port `bev`'s socket is bound to (getsockname; 0 when unknown), for X-Forwarded-Port.
unsigned short local_port_of(const bufferevent* bev);

}  // namespace portico::proxy
