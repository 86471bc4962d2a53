/* banger-vsock-agent: a tiny guest daemon that answers health requests over AF_VSOCK, so the host
 * can tell the guest is up. Linked statically so one binary runs on glibc and musl guests.
 *
 * Protocol (docs/guest.md): the client sends one line per request, the agent answers one line.
 *   "HEALTH\n"  -> "OK banger-vsock-agent <version> uptime=<seconds since guest boot>\n"
 *   other line  -> "ERR unknown request\n"
 *   a line over AGENT_LINE_MAX bytes -> "ERR request too long\n", then the connection closes.
 * A connection may carry several requests; it is closed after AGENT_IDLE_MS without a full line.
 * `--query CID` is the client side: it asks an agent for its health and prints the answer. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <linux/vm_sockets.h>

#ifndef BANGER_VERSION
#define BANGER_VERSION "0.0.0"
#endif

#define AGENT_NAME "banger-vsock-agent"
#define AGENT_DEFAULT_PORT 52000u
#define AGENT_LINE_MAX 256 /* bytes in a request line, newline included */
#define AGENT_OUT_MAX 256  /* bytes of replies queued on one connection */
#define AGENT_MAX_CLIENTS 64
#define AGENT_IDLE_MS 5000

struct agent_conn {
  int fd; /* -1 when the slot is free */
  char in[AGENT_LINE_MAX];
  size_t in_len;
  char out[AGENT_OUT_MAX];
  size_t out_len;
  int closing;      /* close once out is flushed */
  long long due_ms; /* monotonic time at which an idle connection is dropped */
};

struct agent {
  int listen_fd; /* -1: only the connections added by hand are served (tests) */
  int idle_ms;
  struct agent_conn conns[AGENT_MAX_CLIENTS];
};

/* Everything but main is also compiled into tests/c/test_agent.c. */
int agent_reply(const char *line, size_t len, long long uptime, char *out, size_t cap);
void agent_init(struct agent *a, int listen_fd, int idle_ms);
int agent_add_conn(struct agent *a, int fd);
int agent_step(struct agent *a, int timeout_ms, const sigset_t *mask);
void agent_close_all(struct agent *a);
int agent_conn_count(const struct agent *a);
int agent_listen_vsock(unsigned int cid, unsigned int port);
int agent_listen_unix(const char *path);
int agent_connect_vsock(unsigned int cid, unsigned int port, int timeout_ms);
int agent_connect_unix(const char *path, int timeout_ms);
int agent_query(int fd, char *out, size_t cap, int timeout_ms);
long long agent_uptime(void);
void agent_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

void agent_log(const char *fmt, ...)
{
  va_list ap;

  /* one write per line keeps journald lines whole */
  char buf[512];
  int n = snprintf(buf, sizeof(buf), "%s: ", AGENT_NAME);
  int m;

  va_start(ap, fmt);
  m = vsnprintf(buf + n, sizeof(buf) - (size_t)n - 1, fmt, ap);
  va_end(ap);
  if (m < 0)
    return;
  n += m;
  if ((size_t)n > sizeof(buf) - 2)
    n = (int)sizeof(buf) - 2;
  buf[n++] = '\n';
  if (write(STDERR_FILENO, buf, (size_t)n) < 0)
    return;
}

static long long mono_ms(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Seconds since the guest booted, suspend included: what /proc/uptime says. */
long long agent_uptime(void)
{
  struct timespec ts;

  if (clock_gettime(CLOCK_BOOTTIME, &ts) != 0)
    clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec;
}

/* The reply to one request line (without its newline). Returns the reply's length. */
int agent_reply(const char *line, size_t len, long long uptime, char *out, size_t cap)
{
  int n;

  /* tolerate CRLF clients such as telnet */
  if (len > 0 && line[len - 1] == '\r')
    len--;
  if (len == 6 && memcmp(line, "HEALTH", 6) == 0)
    n = snprintf(out, cap, "OK %s %s uptime=%lld\n", AGENT_NAME, BANGER_VERSION, uptime);
  else
    n = snprintf(out, cap, "ERR unknown request\n");
  if (n < 0 || (size_t)n >= cap)
    return -1;
  return n;
}

void agent_init(struct agent *a, int listen_fd, int idle_ms)
{
  int i;

  memset(a, 0, sizeof(*a));
  a->listen_fd = listen_fd;
  a->idle_ms = idle_ms;
  for (i = 0; i < AGENT_MAX_CLIENTS; i++)
    a->conns[i].fd = -1;
}

static void conn_close(struct agent_conn *c)
{
  if (c->fd >= 0)
    close(c->fd);
  c->fd = -1;
  c->in_len = 0;
  c->out_len = 0;
  c->closing = 0;
}

/* Takes ownership of fd (closing it when the agent is full). Returns 0, or -1 when full. */
int agent_add_conn(struct agent *a, int fd)
{
  int i;
  int fl = fcntl(fd, F_GETFL);

  if (fl >= 0)
    fcntl(fd, F_SETFL, fl | O_NONBLOCK);
  for (i = 0; i < AGENT_MAX_CLIENTS; i++) {
    if (a->conns[i].fd < 0) {
      conn_close(&a->conns[i]);
      a->conns[i].fd = fd;
      a->conns[i].due_ms = mono_ms() + a->idle_ms;
      return 0;
    }
  }
  close(fd);
  return -1;
}

int agent_conn_count(const struct agent *a)
{
  int i;
  int n = 0;

  for (i = 0; i < AGENT_MAX_CLIENTS; i++)
    n += a->conns[i].fd >= 0;
  return n;
}

void agent_close_all(struct agent *a)
{
  int i;

  for (i = 0; i < AGENT_MAX_CLIENTS; i++)
    conn_close(&a->conns[i]);
}

static void queue(struct agent_conn *c, const char *s, size_t n)
{
  /* replies are short and a client that never reads is cut off rather than buffered for */
  if (n > sizeof(c->out) - c->out_len) {
    c->closing = 1;
    c->in_len = 0;
    return;
  }
  memcpy(c->out + c->out_len, s, n);
  c->out_len += n;
}

/* Answers every complete line in the input buffer; flags an oversize one. */
static void handle_input(struct agent *a, struct agent_conn *c)
{
  char reply[128];
  char *nl;
  size_t used;
  int n;

  while (!c->closing && c->in_len > 0) {
    nl = memchr(c->in, '\n', c->in_len);
    if (nl == NULL) {
      if (c->in_len >= sizeof(c->in)) {
        static const char too_long[] = "ERR request too long\n";

        queue(c, too_long, sizeof(too_long) - 1);
        c->closing = 1;
        c->in_len = 0;
      }
      return;
    }
    used = (size_t)(nl - c->in) + 1;
    n = agent_reply(c->in, used - 1, agent_uptime(), reply, sizeof(reply));
    if (n > 0)
      queue(c, reply, (size_t)n);
    memmove(c->in, c->in + used, c->in_len - used);
    c->in_len -= used;
    c->due_ms = mono_ms() + a->idle_ms;
  }
}

static void conn_read(struct agent *a, struct agent_conn *c)
{
  ssize_t n = read(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len);

  if (n < 0 && (errno == EAGAIN || errno == EINTR))
    return;
  if (n <= 0) {
    /* the peer is gone (or broke): nothing more to say to it */
    conn_close(c);
    return;
  }
  c->in_len += (size_t)n;
  handle_input(a, c);
}

static void conn_write(struct agent_conn *c)
{
  ssize_t n = send(c->fd, c->out, c->out_len, MSG_NOSIGNAL | MSG_DONTWAIT);

  if (n < 0 && (errno == EAGAIN || errno == EINTR))
    return;
  if (n <= 0) {
    conn_close(c);
    return;
  }
  memmove(c->out, c->out + n, c->out_len - (size_t)n);
  c->out_len -= (size_t)n;
  if (c->out_len == 0 && c->closing)
    conn_close(c);
}

static void accept_all(struct agent *a)
{
  int fd;

  for (;;) {
    fd = accept4(a->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED)
        agent_log("accept: %s", strerror(errno));
      return;
    }
    if (agent_add_conn(a, fd) != 0)
      agent_log("too many clients (%d): dropped one", AGENT_MAX_CLIENTS);
  }
}

/* One poll round: accepts, reads, answers, writes, and drops idle connections. mask (may be
 * NULL) is the signal mask during the wait, so a blocked SIGTERM can interrupt it. Returns 0, or
 * -1 with errno EINTR when a signal arrived. */
int agent_step(struct agent *a, int timeout_ms, const sigset_t *mask)
{
  struct pollfd pfd[AGENT_MAX_CLIENTS + 1];
  int map[AGENT_MAX_CLIENTS + 1];
  struct timespec ts;
  long long now = mono_ms();
  long long wait = timeout_ms;
  nfds_t n = 0;
  nfds_t k;
  int i;
  int rc;

  if (a->listen_fd >= 0) {
    pfd[n].fd = a->listen_fd;
    pfd[n].events = POLLIN;
    map[n++] = -1;
  }
  for (i = 0; i < AGENT_MAX_CLIENTS; i++) {
    struct agent_conn *c = &a->conns[i];

    if (c->fd < 0)
      continue;
    pfd[n].fd = c->fd;
    pfd[n].events = c->out_len > 0 ? POLLOUT : c->closing ? 0 : POLLIN;
    map[n++] = i;
    if (wait < 0 || c->due_ms - now < wait)
      wait = c->due_ms - now < 0 ? 0 : c->due_ms - now;
  }
  ts.tv_sec = wait / 1000;
  ts.tv_nsec = (wait % 1000) * 1000000;
  rc = ppoll(pfd, n, wait < 0 ? NULL : &ts, mask);
  if (rc < 0)
    return errno == EINTR ? -1 : 0;
  for (k = 0; k < n; k++) {
    if (map[k] < 0) {
      if (pfd[k].revents & POLLIN)
        accept_all(a);
      continue;
    }
    struct agent_conn *c = &a->conns[map[k]];
    if (c->fd < 0)
      continue;
    if (pfd[k].revents & POLLOUT)
      conn_write(c);
    else if (pfd[k].revents & (POLLIN | POLLHUP | POLLERR))
      conn_read(a, c);
    if (c->fd >= 0 && c->out_len > 0)
      conn_write(c);
  }
  now = mono_ms();
  for (i = 0; i < AGENT_MAX_CLIENTS; i++) {
    if (a->conns[i].fd >= 0 && a->conns[i].due_ms <= now)
      conn_close(&a->conns[i]);
  }
  return 0;
}

static int listen_on(int fd, const struct sockaddr *sa, socklen_t len, const char *what)
{
  if (bind(fd, sa, len) != 0) {
    agent_log("cannot bind %s: %s", what, strerror(errno));
    close(fd);
    return -1;
  }
  if (listen(fd, 64) != 0) {
    agent_log("cannot listen on %s: %s", what, strerror(errno));
    close(fd);
    return -1;
  }
  return fd;
}

/* A non-blocking AF_VSOCK socket and the address cid:port; -1 with the reason logged. */
static int vsock_socket(unsigned int cid, unsigned int port, struct sockaddr_vm *sa)
{
  int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

  if (fd < 0) {
    agent_log("cannot open an AF_VSOCK socket (is the vsock transport loaded?): %s",
              strerror(errno));
    return -1;
  }
  memset(sa, 0, sizeof(*sa));
  sa->svm_family = AF_VSOCK;
  sa->svm_cid = cid;
  sa->svm_port = port;
  return fd;
}

/* A non-blocking unix socket and the address path; -1 with the reason logged. */
static int unix_socket(const char *path, struct sockaddr_un *sa)
{
  int fd;

  memset(sa, 0, sizeof(*sa));
  if (strlen(path) >= sizeof(sa->sun_path)) {
    agent_log("unix socket path too long: %s", path);
    return -1;
  }
  fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    agent_log("cannot open a unix socket: %s", strerror(errno));
    return -1;
  }
  sa->sun_family = AF_UNIX;
  memcpy(sa->sun_path, path, strlen(path) + 1);
  return fd;
}

int agent_listen_vsock(unsigned int cid, unsigned int port)
{
  struct sockaddr_vm sa;
  char what[64];
  int fd = vsock_socket(cid, port, &sa);

  snprintf(what, sizeof(what), "vsock port %u", port);
  return fd < 0 ? -1 : listen_on(fd, (const struct sockaddr *)&sa, sizeof(sa), what);
}

int agent_listen_unix(const char *path)
{
  struct sockaddr_un sa;
  int fd = unix_socket(path, &sa);

  return fd < 0 ? -1 : listen_on(fd, (const struct sockaddr *)&sa, sizeof(sa), path);
}

/* Connects fd to sa within timeout_ms; returns fd (blocking again) or -1 with the reason logged. */
static int connect_within(int fd, const struct sockaddr *sa, socklen_t len, int timeout_ms,
                          const char *what)
{
  struct pollfd p;
  socklen_t elen = sizeof(int);
  int e = 0;

  if (connect(fd, sa, len) != 0) {
    if (errno != EINPROGRESS) {
      agent_log("cannot connect to %s: %s", what, strerror(errno));
      close(fd);
      return -1;
    }
    p.fd = fd;
    p.events = POLLOUT;
    if (poll(&p, 1, timeout_ms) != 1) {
      agent_log("cannot connect to %s: timed out", what);
      close(fd);
      return -1;
    }
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &elen) != 0 || e != 0) {
      agent_log("cannot connect to %s: %s", what, strerror(e ? e : errno));
      close(fd);
      return -1;
    }
  }
  return fd;
}

int agent_connect_vsock(unsigned int cid, unsigned int port, int timeout_ms)
{
  struct sockaddr_vm sa;
  char what[64];
  int fd = vsock_socket(cid, port, &sa);

  snprintf(what, sizeof(what), "vsock %u:%u", cid, port);
  if (fd < 0)
    return -1;
  return connect_within(fd, (const struct sockaddr *)&sa, sizeof(sa), timeout_ms, what);
}

int agent_connect_unix(const char *path, int timeout_ms)
{
  struct sockaddr_un sa;
  int fd = unix_socket(path, &sa);

  if (fd < 0)
    return -1;
  return connect_within(fd, (const struct sockaddr *)&sa, sizeof(sa), timeout_ms, path);
}

/* Sends HEALTH on a connected fd and reads one reply line (without its newline) into out.
 * Returns 0 when the agent answered OK, 1 for any other answer, -1 when none came in time. */
int agent_query(int fd, char *out, size_t cap, int timeout_ms)
{
  static const char req[] = "HEALTH\n";
  long long due = mono_ms() + timeout_ms;
  struct pollfd p;
  size_t len = 0;
  ssize_t n;
  char *nl;

  if (send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL) != (ssize_t)(sizeof(req) - 1)) {
    agent_log("cannot send the request: %s", strerror(errno));
    return -1;
  }
  out[0] = '\0';
  while (len + 1 < cap) {
    p.fd = fd;
    p.events = POLLIN;
    if (mono_ms() >= due || poll(&p, 1, (int)(due - mono_ms())) != 1) {
      agent_log("no answer within %d ms", timeout_ms);
      return -1;
    }
    n = recv(fd, out + len, cap - 1 - len, 0);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
      continue;
    if (n <= 0) {
      agent_log("the agent closed the connection without an answer");
      return -1;
    }
    len += (size_t)n;
    out[len] = '\0';
    nl = strchr(out, '\n');
    if (nl != NULL) {
      *nl = '\0';
      return strncmp(out, "OK ", 3) == 0 ? 0 : 1;
    }
  }
  agent_log("the answer is longer than %zu bytes", cap - 1);
  return -1;
}

#ifndef BANGER_AGENT_NO_MAIN
static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
  stop_signal = sig;
}

static const char usage[] =
  "usage: " AGENT_NAME " [--port N] [--unix PATH]\n"
  "       " AGENT_NAME " --query CID|unix:PATH [--port N]\n"
  "Answers HEALTH requests on AF_VSOCK port N (default 52000), or on a unix socket.\n"
  "With --query, asks the agent at vsock CID (1 is this machine, 2 the host, 3 and up guests)\n"
  "or on a unix socket for its health, prints the answer, and exits 0 if it is OK.\n"
  "  -p, --port N         the vsock port (default 52000)\n"
  "  -u, --unix PATH      listen on a unix socket instead\n"
  "  -Q, --query TARGET   ask an agent for its health: a CID or unix:PATH\n"
  "  -V, --version        print the version and exit\n"
  "  -h, --help           print this help and exit\n";

static const struct option long_options[] = {
  {"port", required_argument, NULL, 'p'},
  {"unix", required_argument, NULL, 'u'},
  {"query", required_argument, NULL, 'Q'},
  {"version", no_argument, NULL, 'V'},
  {"help", no_argument, NULL, 'h'},
  {NULL, 0, NULL, 0},
};

/* A port number in 1..4294967294 (VMADDR_PORT_ANY is -1); 0 if s is not one. */
static unsigned int parse_port(const char *s)
{
  char *end;
  unsigned long v;

  if (s[0] < '0' || s[0] > '9')
    return 0;
  errno = 0;
  v = strtoul(s, &end, 10);
  if (errno != 0 || *end != '\0' || v == 0 || v >= 0xffffffffUL)
    return 0;
  return (unsigned int)v;
}

int main(int argc, char **argv)
{
  static struct agent a;
  struct sigaction sa;
  sigset_t block, waitmask;
  unsigned int port = AGENT_DEFAULT_PORT;
  const char *unix_path = NULL;
  const char *query = NULL;
  char answer[AGENT_LINE_MAX];
  char shortopt[3] = "-?";
  int fd, rc, c;

  opterr = 0;
  while ((c = getopt_long(argc, argv, ":p:u:Q:Vh", long_options, NULL)) != -1) {
    switch (c) {
    case 'p':
      port = parse_port(optarg);
      if (port == 0) {
        agent_log("bad port '%s': expected a number from 1 to 4294967294", optarg);
        return 2;
      }
      break;
    case 'u':
      unix_path = optarg;
      break;
    case 'Q':
      query = optarg;
      break;
    case 'V':
      printf("%s %s\n", AGENT_NAME, BANGER_VERSION);
      return 0;
    case 'h':
      fputs(usage, stdout);
      return 0;
    case ':':
      fprintf(stderr, "%s: option '%s' needs a value\n%s", AGENT_NAME, argv[optind - 1], usage);
      return 2;
    default:
      shortopt[1] = (char)optopt;
      fprintf(stderr, "%s: unknown argument '%s'\n%s", AGENT_NAME,
              optopt != 0 ? shortopt : argv[optind - 1], usage);
      return 2;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "%s: unexpected argument '%s'\n%s", AGENT_NAME, argv[optind], usage);
    return 2;
  }

  if (query != NULL) {
    if (strncmp(query, "unix:", 5) == 0) {
      fd = agent_connect_unix(query + 5, 5000);
    } else {
      unsigned int cid = parse_port(query);
      if (cid == 0) {
        agent_log("bad CID '%s': expected a number or unix:PATH", query);
        return 2;
      }
      fd = agent_connect_vsock(cid, port, 5000);
    }
    if (fd < 0)
      return 1;
    rc = agent_query(fd, answer, sizeof(answer), 5000);
    close(fd);
    if (rc < 0)
      return 1;
    printf("%s\n", answer);
    return rc;
  }

  /* SIGTERM and SIGINT stay blocked except inside ppoll, so none is lost between rounds */
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);
  sigemptyset(&block);
  sigaddset(&block, SIGTERM);
  sigaddset(&block, SIGINT);
  sigprocmask(SIG_BLOCK, &block, &waitmask);
  sigdelset(&waitmask, SIGTERM);
  sigdelset(&waitmask, SIGINT);

  if (unix_path != NULL)
    fd = agent_listen_unix(unix_path);
  else
    fd = agent_listen_vsock(VMADDR_CID_ANY, port);
  if (fd < 0)
    return 1;
  if (unix_path != NULL)
    agent_log("%s listening on unix socket %s", BANGER_VERSION, unix_path);
  else
    agent_log("%s listening on vsock port %u", BANGER_VERSION, port);

  agent_init(&a, fd, AGENT_IDLE_MS);
  while (stop_signal == 0)
    agent_step(&a, -1, &waitmask);
  agent_log("signal %d: exiting", (int)stop_signal);
  agent_close_all(&a);
  close(fd);
  if (unix_path != NULL)
    unlink(unix_path);
  return 0;
}
#endif
