#ifndef CBCCHOOKS_H
#define CBCCHOOKS_H

/*
 * Functions that libbcc calls, in libbcc and in LLVM, that the monitor
 * replaces with its own by defining them in the executable, which the
 * dynamic linker searches first (libbcc calls them through its PLT). See
 * kallsyms.c and passes.c.
 */

/* 1: kallsyms.c's replacement is linked in. Calling it keeps it in the link. */
int bcc_hooks_linked(void);

/* 1: passes.c's replacement is linked in. Calling it keeps it in the link. */
int bcc_hooks_passes_linked(void);

#endif
