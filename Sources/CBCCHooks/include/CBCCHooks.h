#ifndef CBCCHOOKS_H
#define CBCCHOOKS_H

/*
 * Functions that libbcc calls, in libbcc and in LLVM, that the monitor
 * replaces with its own by defining them in the executable, which the
 * dynamic linker searches first (libbcc calls them through its PLT). See
 * kallsyms.c, maps.c and passes.c.
 */

/* 1: kallsyms.c's replacement is linked in. Calling it keeps it in the link. */
int bcc_hooks_linked(void);


/* Every map BCC creates from now on is taken from the maps lent over this socket (maps.c). */
void bcc_hooks_borrow_maps(int socket);

/* Sends one map, its name and fd, over the socket; fd -1 sends the end mark. 0 or -errno. */
int bcc_hooks_lend_map(int socket, const char *name, int fd);

/* 1: passes.c's replacement is linked in. Calling it keeps it in the link. */
int bcc_hooks_passes_linked(void);

#endif
