/*
 * BCC parses the program text three times (ClangLoader::do_compile): once
 * for TracepointFrontendAction, which writes the struct of each
 * `TRACEPOINT_PROBE`'s arguments in before the probe and passes the text on;
 * once for its rewriter; once to compile. The first parse costs about 35 ms
 * of CPU in each compiling process, for five structs the monitor can write
 * itself from the same format files (Sources/Kernel/TracepointStructs.swift).
 *
 * These replacements skip that parse when the monitor has set the text the
 * pass is to hand on: the action's constructor notes the stream the pass
 * writes to, and its CreateASTConsumer writes that text there and returns no
 * consumer, so clang stops before parsing (BCC ignores the first pass's
 * failure). With no text set, the pass runs as BCC wrote it.
 */
#define _GNU_SOURCE
#include "CBCCHooks.h"

#include <dlfcn.h>
#include <stddef.h>

#define CONSTRUCTOR "_ZN4ebpf24TracepointFrontendActionC1ERN4llvm11raw_ostreamE"
#define CREATE_CONSUMER                                                                                                \
	"_ZN4ebpf24TracepointFrontendAction17CreateASTConsumerERN5clang16CompilerInstanceEN4llvm9StringRefE"
#define STREAM_WRITE "_ZN4llvm11raw_ostream5writeEPKcm"

static __thread const char *program_text;
static __thread size_t program_length;
static __thread void *pass_stream;

void bcc_hooks_program_text(const char *text, size_t length)
{
	program_text = text;
	program_length = length;
}

/* ebpf::TracepointFrontendAction::TracepointFrontendAction(llvm::raw_ostream &os) */
void _ZN4ebpf24TracepointFrontendActionC1ERN4llvm11raw_ostreamE(void *self, void *stream)
{
	static void (*original)(void *, void *);
	if (!original)
		original = (void (*)(void *, void *))dlsym(RTLD_NEXT, CONSTRUCTOR);
	original(self, stream);
	pass_stream = stream;
}

/*
 * std::unique_ptr<clang::ASTConsumer>
 * ebpf::TracepointFrontendAction::CreateASTConsumer(clang::CompilerInstance &, llvm::StringRef)
 * The unique_ptr is returned through `result` (the Itanium C++ ABI's hidden
 * first argument for a type that is not trivially copyable); the StringRef
 * comes as its two words.
 */
void **_ZN4ebpf24TracepointFrontendAction17CreateASTConsumerERN5clang16CompilerInstanceEN4llvm9StringRefE(
	void **result, void *self, void *compiler, const char *file, size_t file_length)
{
	static void **(*original)(void **, void *, void *, const char *, size_t);
	static void *(*stream_write)(void *, const char *, size_t);
	if (!stream_write)
		stream_write = (void *(*)(void *, const char *, size_t))dlsym(RTLD_DEFAULT, STREAM_WRITE);
	if (program_text && pass_stream && stream_write) {
		stream_write(pass_stream, program_text, program_length);
		pass_stream = NULL;
		*result = NULL;
		return result;
	}
	if (!original)
		original = (void **(*)(void **, void *, void *, const char *, size_t))dlsym(RTLD_NEXT, CREATE_CONSUMER);
	return original(result, self, compiler, file, file_length);
}
