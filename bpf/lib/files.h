/* The current task's open files: the struct file behind an fd, and what a record says of it. */
#ifndef BPF_LIB_FILES_H
#define BPF_LIB_FILES_H

#include "lib/common.h"

/* The struct file behind fd in the current task's table, or NULL. */
static __always_inline const void *fd_file(s64 fd)
{
	if (fd < 0)
		return NULL;
	/*
	 * Helper reads, not typed (BTF) loads: the verifier checks a pointer
	 * loaded from the trusted current task against the kernel's lists of
	 * trusted fields, a scan of all of vmlinux's BTF names each time, and
	 * that cost a quarter of a second of start-up over the inlined copies.
	 */
	const void *files = (const void *)read_kernel_u64((const void *)bpf_get_current_task(), OFF_task_struct__files);
	if (!files)
		return NULL;
	const void *fdt = (const void *)read_kernel_u64(files, OFF_files_struct__fdt);
	if (!fdt)
		return NULL;
	u64 max_fds = 0, fds = 0;
	read_kernel_two(fdt, OFF_fdtable__max_fds, OFF_fdtable__fd, &max_fds, &fds);
	if (fd >= (u32)max_fds) /* max_fds is the first 4 of the 8 bytes read (x86-64 is little-endian) */
		return NULL;
	return fds ? (const void *)read_kernel_u64((const void *)fds, fd * sizeof(u64)) : NULL;
}

/* What a record says of the file behind an fd. */
struct file_facts {
	u64 inode; /* its inode number */
	u32 mode;  /* its file->f_mode */
	u32 dev;   /* its inode's superblock device */
	u16 imode; /* its inode's i_mode: type and permissions */
};

/* The facts of the file behind fd; false when there is none. */
static __always_inline int file_facts(s64 fd, struct file_facts *facts)
{
	const void *file = fd_file(fd);
	u64 inode = 0, mode_word = 0, sb = 0;
	if (file)
		read_kernel_two(file, OFF_file__f_inode, OFF_file__f_mode, &inode, &mode_word);
	if (!inode)
		return 0;
	facts->mode = (u32)mode_word;
	u64 imode_word = 0;
	read_kernel_three((const void *)inode, OFF_inode__i_ino, OFF_inode__i_sb, OFF_inode__i_mode, &facts->inode, &sb,
			  &imode_word);
	facts->imode = (u16)imode_word; /* i_mode is the first 2 of the 8 bytes read (x86-64 is little-endian) */
	facts->dev = sb ? read_kernel_u32((const void *)sb, OFF_super_block__s_dev) : 0;
	return 1;
}

#endif
