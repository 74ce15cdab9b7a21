/*
 * replay-log's front (built into dist/replay-log by build.mjs): xfstests starts replay-log
 * once per call, thousands of times per test, and Node's own start costs more than most of
 * those calls do. When `logwrites replay-log-server` runs, this hands the call (arguments,
 * working directory, environment, and fds 0-2 themselves) to it over a Unix socket and exits
 * with the call's status; the server writes straight to our stdout and stderr, so output and
 * its interleaving with an fsck child's are as in-process. Without a server of the same build
 * and user it runs the call in-process: Node with dist/replay-log.cjs, exactly as
 * bin/replay-log.js does (LOGWRITES_SERVER=auto also starts a server for the next calls).
 * Killing this process ends the call: the server stops its replay when its client goes away
 * mid-call, as the call's own process would have stopped.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "wire.h"

#ifndef LWRL_BUILD
#define LWRL_BUILD "dev"
#endif
#ifndef LWRL_NODE
#define LWRL_NODE "node"
#endif
#ifndef LWRL_DIST
#define LWRL_DIST "."
#endif

extern char **environ;

/* A file of dist/: beside this binary, else where the build put it (a copy, not a link, of this binary). */
static void beside(char *out, size_t size, const char *name) {
  char self[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n >= 0) {
    self[n] = 0;
    snprintf(out, size, "%s/%s", dirname(self), name);
    if (access(out, R_OK) == 0) return;
  }
  snprintf(out, size, "%s/%s", LWRL_DIST, name);
}

static void exec_node(char **args) {
  execv(LWRL_NODE, args);
  execvp("node", args);
  fprintf(stderr, "replay-log: cannot run node (%s): %s\n", LWRL_NODE, strerror(errno));
  exit(127);
}

/* Run the call in this process's place: Node with the bundle beside this binary. */
static void in_process(int argc, char **argv) {
  char script[PATH_MAX + 32];
  beside(script, sizeof script, "replay-log.cjs");
  char **args = calloc((size_t)argc + 2, sizeof *args);
  if (!args) exit(1);
  args[0] = "node";
  args[1] = script;
  for (int i = 1; i < argc; i++) args[i + 1] = argv[i];
  setenv(LWRL_ARGV0_ENV, argv[0], 1);
  exec_node(args);
}

/*
 * LOGWRITES_SERVER=auto: start a server for the calls after this one, detached from us (its
 * own session, no terminal, its fds on /dev/null), which stops after LWRL_AUTO_IDLE seconds
 * without a call. Two fronts racing to start one leave one: the second refuses its socket.
 */
static void start_server(void) {
  pid_t child = fork();
  if (child < 0) return;
  if (child > 0) {
    waitpid(child, NULL, 0);
    return;
  }
  if (fork() != 0) _exit(0);
  setsid();
  int null = open("/dev/null", O_RDWR);
  for (int i = 0; i < 3; i++) dup2(null, i);
  char cli[PATH_MAX + 32];
  beside(cli, sizeof cli, "cli.cjs");
  char *args[] = { "node", cli, "replay-log-server", "--idle", LWRL_AUTO_IDLE, NULL };
  exec_node(args);
}

static int connect_server(void) {
  const char *env = getenv(LWRL_SOCKET_ENV);
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  if (env && *env)
    snprintf(addr.sun_path, sizeof addr.sun_path, "%s", env);
  else
    snprintf(addr.sun_path, sizeof addr.sun_path, LWRL_SOCKET_DEFAULT, (unsigned)geteuid());
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
    close(fd);
    return -1;
  }
  /* Our fds go only to a server of our own user. */
  struct ucred peer;
  socklen_t len = sizeof peer;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &len) < 0 || peer.uid != geteuid()) {
    fprintf(stderr, "replay-log: the server at %s is not our user's; running without it\n", addr.sun_path);
    close(fd);
    return -1;
  }
  return fd;
}

/* The request (header and strings), or NULL when it does not fit: the call then runs in-process. */
static char *request(int argc, char **argv, size_t *size) {
  char cwd[PATH_MAX];
  if (!getcwd(cwd, sizeof cwd)) return NULL;
  struct lwrl_request head = { .magic = LWRL_MAGIC, .version = LWRL_VERSION, .argc = (uint32_t)argc };
  strncpy(head.build, LWRL_BUILD, sizeof head.build);
  size_t total = strlen(cwd) + 1;
  for (int i = 0; i < argc; i++) total += strlen(argv[i]) + 1;
  for (char **e = environ; *e; e++, head.envc++) total += strlen(*e) + 1;
  if (total > LWRL_MAX_REQUEST) return NULL;
  head.length = (uint32_t)total;
  char *buf = malloc(sizeof head + total);
  if (!buf) return NULL;
  memcpy(buf, &head, sizeof head);
  char *p = stpcpy(buf + sizeof head, cwd) + 1;
  for (int i = 0; i < argc; i++) p = stpcpy(p, argv[i]) + 1;
  for (char **e = environ; *e; e++) p = stpcpy(p, *e) + 1;
  *size = sizeof head + total;
  return buf;
}

static int send_request(int fd, int argc, char **argv) {
  size_t size;
  char *buf = request(argc, argv, &size);
  if (!buf) return -1;
  int fds[LWRL_FDS] = { 0, 1, 2 };
  union {
    struct cmsghdr h;
    char space[CMSG_SPACE(sizeof fds)];
  } control;
  memset(&control, 0, sizeof control);
  struct iovec iov = { buf, size };
  struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.space, .msg_controllen = sizeof control.space };
  struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof fds);
  memcpy(CMSG_DATA(c), fds, sizeof fds);
  /* The fds go with the first piece; a large environment may need more. */
  ssize_t n = sendmsg(fd, &msg, MSG_NOSIGNAL);
  size_t sent = n > 0 ? (size_t)n : 0;
  while (n > 0 && sent < size) {
    n = send(fd, buf + sent, size - sent, MSG_NOSIGNAL);
    if (n > 0) sent += (size_t)n;
  }
  free(buf);
  return sent == size ? 0 : -1;
}

int main(int argc, char **argv) {
  const char *mode = getenv(LWRL_MODE_ENV);
  int fd = mode && strcmp(mode, "off") == 0 ? -1 : connect_server();
  if (fd < 0 && mode && strcmp(mode, "auto") == 0) start_server();
  if (fd < 0 || send_request(fd, argc, argv) < 0) in_process(argc, argv);
  struct lwrl_reply reply;
  size_t got = 0;
  while (got < sizeof reply) {
    ssize_t n = read(fd, (char *)&reply + got, sizeof reply - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      fprintf(stderr, "replay-log: the replay-log server stopped during this call\n");
      return 1;
    }
    got += (size_t)n;
  }
  if (reply.magic != LWRL_MAGIC || reply.status == LWRL_REFUSED) {
    fprintf(stderr, "replay-log: the replay-log server refused this call; running without it\n");
    in_process(argc, argv);
  }
  if (reply.status == LWRL_STALE) in_process(argc, argv);
  return reply.status;
}
