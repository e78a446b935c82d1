/*
 * kiln-init: the PID 1 of `kiln run --init`, built as a static executable with the addon and
 * bound read-only into the container at /dev/init (as docker binds its docker-init, tini).
 * It is exec'd, so nothing of kiln's memory, environment or descriptors comes with it.
 *
 *   /dev/init -- COMMAND [ARG...]
 *
 * It starts COMMAND in a process group of its own (the terminal's foreground group, when stdin
 * is one), passes it every signal it receives, reaps every orphan that the PID namespace hands
 * it, and exits with COMMAND's status (128+N when a signal N ended it).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int statusOf(int status) {
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void runCommand(char **argv, const sigset_t *parentMask) {
  setpgid(0, 0);
  // Signals are still blocked here, so taking the terminal cannot stop us (SIGTTOU).
  if (isatty(STDIN_FILENO)) tcsetpgrp(STDIN_FILENO, getpgrp());
  signal(SIGTTIN, SIG_DFL);
  signal(SIGTTOU, SIG_DFL);
  sigprocmask(SIG_SETMASK, parentMask, NULL);
  execvp(argv[0], argv);
  int err = errno;
  fprintf(stderr, "kiln-init: exec %s: %s\n", argv[0], strerror(err));
  _exit(err == ENOENT || err == ENOTDIR ? 127 : 126);
}

int main(int argc, char **argv) {
  int first = 1;
  if (first < argc && strcmp(argv[first], "--") == 0) first++;
  if (first >= argc) {
    fprintf(stderr, "usage: %s -- COMMAND [ARG...]\n", argv[0]);
    return 2;
  }
  sigset_t all, before;
  sigfillset(&all);
  sigprocmask(SIG_BLOCK, &all, &before);
  // Handing the terminal to the command's group must not stop PID 1.
  signal(SIGTTIN, SIG_IGN);
  signal(SIGTTOU, SIG_IGN);

  pid_t child = fork();
  if (child < 0) {
    perror("kiln-init: fork");
    return 126;
  }
  if (child == 0) runCommand(argv + first, &before);

  for (;;) {
    siginfo_t info;
    int sig = sigwaitinfo(&all, &info);
    if (sig < 0) continue;
    if (sig != SIGCHLD) {
      kill(child, sig);
      continue;
    }
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
      if (pid == child) return statusOf(status);
    }
  }
}
