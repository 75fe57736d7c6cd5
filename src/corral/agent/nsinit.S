/* corral-nsinit: the first process of a task's new pid and mount namespaces, which the
 * launcher created (unshare(2) before posix_spawn, so this process is pid 1 of the new pid
 * namespace, in a private copy of the launcher's mounts). It mounts a /proc that shows its
 * own pid namespace and then executes the task in its own place:
 *
 *     corral-nsinit PROGRAM ARGV0 [ARG...]   ->   execve(PROGRAM, [ARGV0, ARG...], environ)
 *
 * so the task itself is pid 1. No libc, no allocation: two system calls. If one of them
 * fails it writes why to stderr and exits with status 127.
 *
 * x86-64 Linux. src/corral/agent/namespaces.py embeds the assembled .text of this file
 * (NSINIT_X86_64) and wraps it in a minimal ELF header; tests/unit/test_namespaces.py
 * assembles this file again and checks the bytes are the same:
 *     as --64 -o nsinit.o nsinit.S && objcopy -O binary -j .text nsinit.o nsinit.bin
 */
        .text
        .globl  _start
_start:
        mov     (%rsp), %rbx            /* argc */
        lea     8(%rsp), %r12           /* argv */
        lea     16(%rsp,%rbx,8), %r13   /* envp: after argv's NULL */
        cmp     $3, %rbx
        jl      usage
        lea     proc(%rip), %rdi        /* mount("proc", "/proc", "proc", */
        lea     slash_proc(%rip), %rsi
        mov     %rdi, %rdx
        mov     $14, %r10d              /*       MS_NOSUID | MS_NODEV | MS_NOEXEC, */
        xor     %r8d, %r8d              /*       NULL) */
        mov     $165, %eax              /* SYS_mount */
        syscall
        test    %rax, %rax
        jnz     no_proc
        mov     8(%r12), %rdi           /* execve(argv[1], &argv[2], envp) */
        lea     16(%r12), %rsi
        mov     %r13, %rdx
        mov     $59, %eax               /* SYS_execve */
        syscall
        lea     exec_msg(%rip), %rsi
        mov     $(exec_end - exec_msg), %edx
        jmp     die
no_proc:
        lea     mount_msg(%rip), %rsi
        mov     $(mount_end - mount_msg), %edx
        jmp     die
usage:
        lea     usage_msg(%rip), %rsi
        mov     $(usage_end - usage_msg), %edx
die:
        mov     $2, %edi                /* write(2, message, length) */
        mov     $1, %eax                /* SYS_write */
        syscall
        mov     $127, %edi              /* exit_group(127) */
        mov     $231, %eax              /* SYS_exit_group */
        syscall
proc:           .asciz  "proc"
slash_proc:     .asciz  "/proc"
mount_msg:      .ascii  "corral-nsinit: cannot mount /proc for the task's pid namespace\n"
mount_end:
exec_msg:       .ascii  "corral-nsinit: cannot execute the task's program\n"
exec_end:
usage_msg:      .ascii  "usage: corral-nsinit PROGRAM ARGV0 [ARG...]\n"
usage_end:
