#ifndef CBCCHOOKS_H
#define CBCCHOOKS_H

/*
 * Functions of libbcc that the monitor replaces with its own by defining them
 * in the executable, which the dynamic linker searches before libbcc (libbcc
 * calls them through its PLT). See kallsyms.c.
 */

/* 1: this file's replacements are linked in. Calling it keeps them in the link. */
int bcc_hooks_linked(void);

#endif
