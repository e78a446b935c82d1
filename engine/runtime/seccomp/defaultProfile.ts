/**
 * kiln's default seccomp profile: an allow-list with docker's semantics (moby profiles/seccomp:
 * every call not allowed fails with EPERM; kernel-wide state, namespaces, mounts, keyrings, BPF,
 * perf, modules, clocks, raw I/O and process inspection only with the capability docker ties
 * them to; argument filters for clone, personality and socket; clone3 answers ENOSYS so C
 * libraries fall back to clone, whose flags the filter can see). As current docker (v25+),
 * io_uring is refused: its submissions run in the kernel where seccomp cannot see them. As
 * docker v29.5, sockets of AF_VSOCK (host/guest) and AF_ALG (kernel crypto) are refused.
 *
 * Grouped here by what the calls are for; a name an ABI lacks is skipped for that ABI.
 */
import type { SeccompProfile, SyscallRule } from './profile.js';

const FILES = [
  'access', 'chdir', 'chmod', 'chown', 'chown32', 'close', 'close_range', 'copy_file_range', 'creat', 'dup', 'dup2', 'dup3',
  'faccessat', 'faccessat2', 'fadvise64', 'fadvise64_64', 'fallocate', 'fchdir', 'fchmod', 'fchmodat', 'fchmodat2', 'fchown',
  'fchown32', 'fchownat', 'fcntl', 'fcntl64', 'fdatasync', 'flock', 'fstat', 'fstat64', 'fstatat64', 'fstatfs', 'fstatfs64',
  'fsync', 'ftruncate', 'ftruncate64', 'futimesat', 'getcwd', 'getdents', 'getdents64', 'lchown', 'lchown32', 'link', 'linkat',
  '_llseek', 'lseek', 'lstat', 'lstat64', 'mkdir', 'mkdirat', 'mknod', 'mknodat', 'name_to_handle_at', 'newfstatat', 'open',
  'openat', 'openat2', 'pread64', 'preadv', 'preadv2', 'pwrite64', 'pwritev', 'pwritev2', 'read', 'readahead', 'readlink',
  'readlinkat', 'readv', 'rename', 'renameat', 'renameat2', 'rmdir', 'sendfile', 'sendfile64', 'splice', 'stat', 'stat64',
  'statfs', 'statfs64', 'statx', 'symlink', 'symlinkat', 'sync', 'sync_file_range', 'syncfs', 'tee', 'truncate', 'truncate64',
  'umask', 'unlink', 'unlinkat', 'utime', 'utimensat', 'utimensat_time64', 'utimes', 'vmsplice', 'write', 'writev',
  'cachestat', 'listmount', 'statmount',
];

const EXTENDED_ATTRIBUTES = [
  'fgetxattr', 'flistxattr', 'fremovexattr', 'fsetxattr', 'getxattr', 'lgetxattr', 'listxattr', 'llistxattr', 'lremovexattr',
  'lsetxattr', 'removexattr', 'setxattr', 'getxattrat', 'listxattrat', 'removexattrat', 'setxattrat',
];

const WAITING_AND_EVENTS = [
  'epoll_create', 'epoll_create1', 'epoll_ctl', 'epoll_ctl_old', 'epoll_pwait', 'epoll_pwait2', 'epoll_wait', 'epoll_wait_old',
  'eventfd', 'eventfd2', 'inotify_add_watch', 'inotify_init', 'inotify_init1', 'inotify_rm_watch', 'fanotify_mark', 'poll',
  'ppoll', 'ppoll_time64', 'pselect6', 'pselect6_time64', 'select', '_newselect', 'signalfd', 'signalfd4', 'timerfd_create',
  'timerfd_gettime', 'timerfd_gettime64', 'timerfd_settime', 'timerfd_settime64',
];

/** Linux AIO and device control; not io_uring. */
const ASYNC_IO = ['io_cancel', 'io_destroy', 'io_getevents', 'io_pgetevents', 'io_pgetevents_time64', 'io_setup', 'io_submit', 'ioctl', 'ioprio_get', 'ioprio_set'];

const MEMORY = [
  'brk', 'madvise', 'map_shadow_stack', 'membarrier', 'memfd_create', 'memfd_secret', 'mincore', 'mlock', 'mlock2', 'mlockall',
  'mmap', 'mmap2', 'mprotect', 'mremap', 'mseal', 'msync', 'munlock', 'munlockall', 'munmap', 'pkey_alloc', 'pkey_free',
  'pkey_mprotect', 'remap_file_pages',
];

const PROCESSES = [
  'capget', 'capset', 'execve', 'execveat', 'exit', 'exit_group', 'fork', 'vfork', 'get_robust_list', 'set_robust_list', 'getcpu',
  'getpgid', 'getpgrp', 'getpid', 'getppid', 'getpriority', 'setpriority', 'getrusage', 'getsid', 'setsid', 'setpgid', 'gettid',
  'get_thread_area', 'set_thread_area', 'set_tid_address', 'prctl', 'prlimit64', 'getrlimit', 'setrlimit', 'ugetrlimit', 'rseq',
  'sched_getaffinity', 'sched_getattr', 'sched_getparam', 'sched_get_priority_max', 'sched_get_priority_min', 'sched_getscheduler',
  'sched_rr_get_interval', 'sched_rr_get_interval_time64', 'sched_setaffinity', 'sched_setattr', 'sched_setparam',
  'sched_setscheduler', 'sched_yield', 'seccomp', 'times', 'uname', 'sysinfo', 'wait4', 'waitid', 'waitpid', 'process_mrelease',
  'pidfd_open', 'pidfd_send_signal', 'pipe', 'pipe2', 'futex', 'futex_time64', 'futex_waitv', 'futex_wait', 'futex_wake', 'futex_requeue',
  'landlock_add_rule', 'landlock_create_ruleset', 'landlock_restrict_self', 'restart_syscall', 'uretprobe', 'riscv_hwprobe', 'getrandom',
];

const IDENTITIES = [
  'getegid', 'getegid32', 'geteuid', 'geteuid32', 'getgid', 'getgid32', 'getgroups', 'getgroups32', 'getresgid', 'getresgid32',
  'getresuid', 'getresuid32', 'getuid', 'getuid32', 'setfsgid', 'setfsgid32', 'setfsuid', 'setfsuid32', 'setgid', 'setgid32',
  'setgroups', 'setgroups32', 'setregid', 'setregid32', 'setresgid', 'setresgid32', 'setresuid', 'setresuid32', 'setreuid',
  'setreuid32', 'setuid', 'setuid32',
];

const SIGNALS = [
  'alarm', 'getitimer', 'setitimer', 'kill', 'pause', 'rt_sigaction', 'rt_sigpending', 'rt_sigprocmask', 'rt_sigqueueinfo',
  'rt_sigreturn', 'rt_sigsuspend', 'rt_sigtimedwait', 'rt_sigtimedwait_time64', 'rt_tgsigqueueinfo', 'sigaltstack', 'sigprocmask',
  'sigreturn', 'tgkill', 'tkill',
];

/** Reading clocks and sleeping; setting them needs CAP_SYS_TIME below (adjtimex checks it itself). */
const TIME = [
  'adjtimex', 'clock_adjtime', 'clock_adjtime64', 'clock_getres', 'clock_getres_time64', 'clock_gettime', 'clock_gettime64',
  'clock_nanosleep', 'clock_nanosleep_time64', 'gettimeofday', 'nanosleep', 'time', 'timer_create', 'timer_delete',
  'timer_getoverrun', 'timer_gettime', 'timer_gettime64', 'timer_settime', 'timer_settime64',
];

/** Everything on sockets but making one (filtered by family below); socketcall's arguments are out of the filter's sight. */
const SOCKETS = [
  'accept', 'accept4', 'bind', 'connect', 'getpeername', 'getsockname', 'getsockopt', 'setsockopt', 'listen', 'recv', 'recvfrom',
  'recvmmsg', 'recvmmsg_time64', 'recvmsg', 'send', 'sendmmsg', 'sendmsg', 'sendto', 'shutdown', 'socketcall', 'socketpair',
];

const IPC = [
  'ipc', 'msgctl', 'msgget', 'msgrcv', 'msgsnd', 'semctl', 'semget', 'semop', 'semtimedop', 'semtimedop_time64', 'shmat', 'shmctl',
  'shmdt', 'shmget', 'mq_getsetattr', 'mq_notify', 'mq_open', 'mq_timedreceive', 'mq_timedreceive_time64', 'mq_timedsend',
  'mq_timedsend_time64', 'mq_unlink',
];

/**
 * Socket families a container may create, as current docker lists them: AF_UNIX (1) to AF_MCTP
 * (45) less those Linux dropped or is dropping (DECnet 12, Econet 19, ATM SVC 20, IrDA 23,
 * WANPIPE 25, ISDN 34, CAIF 37), AF_ALG (38: the kernel crypto API, attack surface no container
 * needs) and AF_VSOCK (40: it reaches the VMs on the host).
 */
const SOCKET_FAMILIES = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16, 17, 18, 21, 22, 24, 26, 27, 28, 29, 30, 31, 32, 33, 35, 36, 39, 41, 42, 43, 44, 45];

/** personality(): the Linux persona with and without ADDR_LIMIT_32BIT-free flags docker allows, and the query. */
const PERSONALITIES = [0x0, 0x8, 0x20000, 0x20008, 0xffffffff];

/** The clone flags that make namespaces (CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET). */
const CLONE_NAMESPACES = 0x7e020000n;

const allow = (names: string[], extra: Partial<SyscallRule> = {}): SyscallRule => ({ names, action: 'SCMP_ACT_ALLOW', args: [], ...extra });
const withCap = (cap: string, names: string[]): SyscallRule => allow(names, { includes: { caps: [cap] } });
const onArches = (arches: string[], names: string[]): SyscallRule => allow(names, { includes: { arches } });

export const DEFAULT_PROFILE: SeccompProfile = {
  defaultAction: 'SCMP_ACT_ERRNO',
  defaultErrnoRet: 1,
  archMap: [
    { architecture: 'SCMP_ARCH_X86_64', subArchitectures: ['SCMP_ARCH_X86', 'SCMP_ARCH_X32'] },
    { architecture: 'SCMP_ARCH_AARCH64', subArchitectures: ['SCMP_ARCH_ARM'] },
  ],
  architectures: [],
  syscalls: [
    allow([...FILES, ...EXTENDED_ATTRIBUTES, ...WAITING_AND_EVENTS, ...ASYNC_IO, ...MEMORY, ...PROCESSES, ...IDENTITIES, ...SIGNALS, ...TIME, ...SOCKETS, ...IPC]),
    // Tracing the container's own processes: safe since 4.8, where seccomp is checked after ptrace.
    allow(['ptrace', 'process_vm_readv', 'process_vm_writev'], { includes: { minKernel: '4.8' } }),
    ...SOCKET_FAMILIES.map((family) => allow(['socket'], { args: [{ index: 0, value: BigInt(family), valueTwo: 0n, op: 'SCMP_CMP_EQ' }] })),
    ...PERSONALITIES.map((p) => allow(['personality'], { args: [{ index: 0, value: BigInt(p), valueTwo: 0n, op: 'SCMP_CMP_EQ' }] })),
    onArches(['amd64', 'x32'], ['arch_prctl']),
    onArches(['amd64', 'x32', 'x86'], ['modify_ldt']),
    onArches(['arm', 'arm64'], ['arm_fadvise64_64', 'arm_sync_file_range', 'sync_file_range2', 'breakpoint', 'cacheflush', 'set_tls']),
    // clone without namespace flags; with CAP_SYS_ADMIN any clone, and clone3 (whose flags sit behind a pointer).
    allow(['clone'], { args: [{ index: 0, value: CLONE_NAMESPACES, valueTwo: 0n, op: 'SCMP_CMP_MASKED_EQ' }], excludes: { caps: ['CAP_SYS_ADMIN'] } }),
    { names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: 38, args: [], excludes: { caps: ['CAP_SYS_ADMIN'] } },
    withCap('CAP_SYS_ADMIN', [
      'bpf', 'clone', 'clone3', 'fanotify_init', 'fsconfig', 'fsmount', 'fsopen', 'fspick', 'lookup_dcookie', 'lsm_get_self_attr',
      'lsm_list_modules', 'lsm_set_self_attr', 'mount', 'mount_setattr', 'move_mount', 'open_tree', 'perf_event_open', 'quotactl',
      'quotactl_fd', 'setdomainname', 'sethostname', 'setns', 'syslog', 'umount', 'umount2', 'unshare',
    ]),
    withCap('CAP_DAC_READ_SEARCH', ['open_by_handle_at']),
    withCap('CAP_SYS_BOOT', ['reboot']),
    withCap('CAP_SYS_CHROOT', ['chroot']),
    withCap('CAP_SYS_MODULE', ['delete_module', 'init_module', 'finit_module']),
    withCap('CAP_SYS_PACCT', ['acct']),
    withCap('CAP_SYS_PTRACE', ['kcmp', 'pidfd_getfd', 'process_madvise', 'process_vm_readv', 'process_vm_writev', 'ptrace']),
    withCap('CAP_SYS_RAWIO', ['iopl', 'ioperm']),
    withCap('CAP_SYS_TIME', ['settimeofday', 'stime', 'clock_settime', 'clock_settime64']),
    withCap('CAP_SYS_TTY_CONFIG', ['vhangup']),
    withCap('CAP_SYS_NICE', ['get_mempolicy', 'mbind', 'set_mempolicy', 'set_mempolicy_home_node']),
    withCap('CAP_SYSLOG', ['syslog']),
    withCap('CAP_BPF', ['bpf']),
    withCap('CAP_PERFMON', ['perf_event_open']),
  ],
};
