/* The guest vsock agent: its protocol over socket pairs and unix sockets, and AF_VSOCK itself
 * through the kernel's loopback transport where there is one. */
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BANGER_AGENT_NO_MAIN
#include "../../assets/banger-vsock-agent.c"

#ifndef VMADDR_CID_LOCAL
#define VMADDR_CID_LOCAL 1
#endif

static const char health_123[] = "OK banger-vsock-agent " BANGER_VERSION " uptime=123\n";

static long long now_ms(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Steps the agent and reads from fd until want bytes, end of file or ms pass.
 * Returns the bytes read (NUL-terminated in buf); *eof says whether the agent closed. */
static size_t pump(struct agent *a, int fd, char *buf, size_t cap, size_t want, int ms, int *eof)
{
  long long end = now_ms() + ms;
  size_t got = 0;
  ssize_t n;

  *eof = 0;
  while (got < want && now_ms() < end) {
    agent_step(a, 10, NULL);
    n = recv(fd, buf + got, cap - 1 - got, MSG_DONTWAIT);
    if (n == 0) {
      *eof = 1;
      break;
    }
    if (n > 0)
      got += (size_t)n;
  }
  buf[got] = '\0';
  return got;
}

static void pair(int sv[2])
{
  CHECK_INT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
}

static void send_all(int fd, const char *s, size_t n)
{
  CHECK_INT(send(fd, s, n, MSG_NOSIGNAL), (long long)n);
}

BG_TEST(reply_health)
{
  char out[128];
  int n = agent_reply("HEALTH", 6, 123, out, sizeof(out));

  CHECK_STR(out, health_123);
  CHECK_INT(n, (long long)strlen(health_123));
  agent_reply("HEALTH\r", 7, 123, out, sizeof(out));
  CHECK_STR(out, health_123);
}

BG_TEST(reply_unknown)
{
  char out[128];

  CHECK_INT(agent_reply("health", 6, 1, out, sizeof(out)), 20);
  CHECK_STR(out, "ERR unknown request\n");
  agent_reply("HEALTH ", 7, 1, out, sizeof(out));
  CHECK_STR(out, "ERR unknown request\n");
  agent_reply("HEALTHX", 6, 123, out, sizeof(out)); /* only len bytes count */
  CHECK_STR(out, health_123);
  agent_reply("", 0, 1, out, sizeof(out));
  CHECK_STR(out, "ERR unknown request\n");
}

BG_TEST(reply_too_small_buffer)
{
  char out[64];
  volatile size_t cap = 10; /* opaque to the compiler, which would warn about the truncation */

  CHECK_INT(agent_reply("HEALTH", 6, 1, out, cap), -1);
}

BG_TEST(socketpair_requests)
{
  static struct agent a;
  char buf[512];
  char want[2][256];
  long long up = agent_uptime();
  int sv[2];
  int eof;
  int i;

  pair(sv);
  agent_init(&a, -1, 5000);
  CHECK_INT(agent_add_conn(&a, sv[0]), 0);
  send_all(sv[1], "HEALTH\nNOPE\n\n", 13);
  /* the uptime may tick over while the request is in flight */
  for (i = 0; i < 2; i++)
    snprintf(want[i], sizeof(want[i]), "OK banger-vsock-agent %s uptime=%lld\n"
             "ERR unknown request\nERR unknown request\n", BANGER_VERSION, up + i);
  pump(&a, sv[1], buf, sizeof(buf), strlen(want[0]), 2000, &eof);
  CHECK_STR(buf, strcmp(buf, want[1]) == 0 ? want[1] : want[0]);
  CHECK_INT(eof, 0);
  CHECK_INT(agent_conn_count(&a), 1);
  close(sv[1]);
  agent_step(&a, 50, NULL);
  CHECK_INT(agent_conn_count(&a), 0);
}

BG_TEST(socketpair_split_line)
{
  static struct agent a;
  char buf[512];
  int sv[2];
  int eof;

  pair(sv);
  agent_init(&a, -1, 5000);
  agent_add_conn(&a, sv[0]);
  send_all(sv[1], "HEA", 3);
  CHECK_INT(pump(&a, sv[1], buf, sizeof(buf), 1, 100, &eof), 0);
  send_all(sv[1], "LTX\n", 4);
  pump(&a, sv[1], buf, sizeof(buf), 20, 2000, &eof);
  CHECK_STR(buf, "ERR unknown request\n");
  close(sv[1]);
  agent_close_all(&a);
}

BG_TEST(oversize_line)
{
  static struct agent a;
  char line[AGENT_LINE_MAX + 1];
  char buf[512];
  int sv[2];
  int eof;

  /* a line of exactly the cap (newline included) is still a request */
  pair(sv);
  agent_init(&a, -1, 5000);
  agent_add_conn(&a, sv[0]);
  memset(line, 'A', sizeof(line));
  line[AGENT_LINE_MAX - 1] = '\n';
  send_all(sv[1], line, AGENT_LINE_MAX);
  pump(&a, sv[1], buf, sizeof(buf), 20, 2000, &eof);
  CHECK_STR(buf, "ERR unknown request\n");
  CHECK_INT(eof, 0);
  close(sv[1]);
  agent_close_all(&a);

  /* one byte more and the agent answers once and hangs up */
  pair(sv);
  agent_add_conn(&a, sv[0]);
  memset(line, 'A', sizeof(line));
  line[AGENT_LINE_MAX] = '\n';
  send_all(sv[1], line, AGENT_LINE_MAX + 1);
  pump(&a, sv[1], buf, sizeof(buf), sizeof(buf), 2000, &eof);
  CHECK_STR(buf, "ERR request too long\n");
  CHECK_INT(eof, 1);
  CHECK_INT(agent_conn_count(&a), 0);
  close(sv[1]);
}

BG_TEST(slow_client_does_not_block)
{
  static struct agent a;
  char buf[512];
  int slow[2], fast[2];
  int eof;

  pair(slow);
  pair(fast);
  agent_init(&a, -1, 5000);
  agent_add_conn(&a, slow[0]);
  agent_add_conn(&a, fast[0]);
  send_all(slow[1], "HEAL", 4);
  send_all(fast[1], "HEALTH\n", 7);
  pump(&a, fast[1], buf, sizeof(buf), 10, 2000, &eof);
  CHECK_CONTAINS(buf, "OK banger-vsock-agent ");
  CHECK_INT(agent_conn_count(&a), 2);
  close(slow[1]);
  close(fast[1]);
  agent_close_all(&a);
}

BG_TEST(idle_connection_dropped)
{
  static struct agent a;
  char buf[64];
  int sv[2];
  int eof;
  long long t0 = now_ms();

  pair(sv);
  agent_init(&a, -1, 100);
  agent_add_conn(&a, sv[0]);
  send_all(sv[1], "HEAL", 4);
  pump(&a, sv[1], buf, sizeof(buf), 1, 3000, &eof);
  CHECK_INT(eof, 1);
  CHECK_STR(buf, "");
  CHECK(now_ms() - t0 >= 100);
  CHECK_INT(agent_conn_count(&a), 0);
  close(sv[1]);
}

BG_TEST(too_many_clients)
{
  static struct agent a;
  int peers[AGENT_MAX_CLIENTS + 1];
  int sv[2];
  char c;
  int i;

  agent_init(&a, -1, 5000);
  for (i = 0; i <= AGENT_MAX_CLIENTS; i++) {
    pair(sv);
    peers[i] = sv[1];
    CHECK_INT(agent_add_conn(&a, sv[0]), i < AGENT_MAX_CLIENTS ? 0 : -1);
  }
  CHECK_INT(agent_conn_count(&a), AGENT_MAX_CLIENTS);
  /* the refused one sees end of file at once */
  CHECK_INT(recv(peers[AGENT_MAX_CLIENTS], &c, 1, MSG_DONTWAIT), 0);
  for (i = 0; i <= AGENT_MAX_CLIENTS; i++)
    close(peers[i]);
  agent_close_all(&a);
}

BG_TEST(unix_listener)
{
  static struct agent a;
  struct sockaddr_un sa;
  char buf[256];
  int lfd, fds[8];
  int eof;
  int i;

  lfd = agent_listen_unix("agent.sock");
  CHECK(lfd >= 0);
  agent_init(&a, lfd, 5000);
  memset(&sa, 0, sizeof(sa));
  sa.sun_family = AF_UNIX;
  memcpy(sa.sun_path, "agent.sock", 11);
  for (i = 0; i < 8; i++) {
    fds[i] = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK_INT(connect(fds[i], (struct sockaddr *)&sa, sizeof(sa)), 0);
  }
  for (i = 7; i >= 0; i--) {
    send_all(fds[i], "HEALTH\n", 7);
    pump(&a, fds[i], buf, sizeof(buf), 10, 2000, &eof);
    CHECK_CONTAINS(buf, "OK banger-vsock-agent " BANGER_VERSION " uptime=");
  }
  CHECK_INT(agent_conn_count(&a), 8);
  for (i = 0; i < 8; i++)
    close(fds[i]);
  agent_close_all(&a);
  close(lfd);
  CHECK_INT(agent_listen_unix("agent.sock"), -1); /* still bound: a clear failure, not a crash */
}

BG_TEST(vsock_loopback)
{
  static struct agent a;
  struct sockaddr_vm sa;
  struct pollfd p;
  char buf[256];
  unsigned int port = 52000u + 100u + (unsigned int)(getpid() % 800);
  long long end;
  socklen_t len = sizeof(int);
  int lfd, cfd;
  int err = 0;
  int eof;
  int probe = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);

  if (probe < 0)
    bg_test_skip("this kernel offers no AF_VSOCK sockets");
  close(probe);
  lfd = agent_listen_vsock(VMADDR_CID_ANY, port);
  CHECK(lfd >= 0);
  agent_init(&a, lfd, 5000);
  cfd = socket(AF_VSOCK, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  CHECK(cfd >= 0);
  memset(&sa, 0, sizeof(sa));
  sa.svm_family = AF_VSOCK;
  sa.svm_cid = VMADDR_CID_LOCAL;
  sa.svm_port = port;
  if (connect(cfd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
    err = errno;
    if (err == EINPROGRESS) {
      /* the listener is served by this thread: step it while the connect completes */
      err = ETIMEDOUT;
      end = now_ms() + 3000;
      while (now_ms() < end) {
        agent_step(&a, 10, NULL);
        p.fd = cfd;
        p.events = POLLOUT;
        if (poll(&p, 1, 10) == 1) {
          getsockopt(cfd, SOL_SOCKET, SO_ERROR, &err, &len);
          break;
        }
      }
    }
  }
  if (err != 0) {
    close(cfd);
    agent_close_all(&a);
    close(lfd);
    fprintf(stderr, "vsock loopback connect: %s\n", strerror(err));
    bg_test_skip("AF_VSOCK listens, but the kernel has no vsock_loopback transport to connect "
                 "to VMADDR_CID_LOCAL");
  }
  send_all(cfd, "HEALTH\n", 7);
  pump(&a, cfd, buf, sizeof(buf), 10, 2000, &eof);
  CHECK_CONTAINS(buf, "OK banger-vsock-agent " BANGER_VERSION " uptime=");
  close(cfd);
  agent_close_all(&a);
  close(lfd);
}
