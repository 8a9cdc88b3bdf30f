/* Kernel command-line assembly (see cmdline.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cmdline.h"

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n';
}

/* The next word of s from *pos: its start and length, quotes included, as
 * the kernel's next_arg() splits (spaces inside "..." do not end a word).
 * false at the end. */
static bool next_word(const char *s, size_t *pos, size_t *start, size_t *len)
{
	size_t i = *pos;
	bool quoted = false;

	while (s[i] && is_space(s[i]))
		i++;
	if (!s[i])
		return false;
	*start = i;
	for (; s[i] && (quoted || !is_space(s[i])); i++)
		if (s[i] == '"')
			quoted = !quoted;
	*len = i - *start;
	*pos = i;
	return true;
}

/* Offset of the "--" word that ends the parameters, or strlen(s). */
static size_t params_end(const char *s)
{
	size_t pos = 0, start, len;

	while (next_word(s, &pos, &start, &len))
		if (len == 2 && s[start] == '-' && s[start + 1] == '-')
			return start;
	return strlen(s);
}

bool cmdline_has_param(const char *cmdline, const char *name)
{
	size_t pos = 0, start, len, n = strlen(name);

	if (!cmdline)
		return false;
	while (next_word(cmdline, &pos, &start, &len)) {
		const char *w = cmdline + start;
		if (len == 2 && w[0] == '-' && w[1] == '-')
			return false;
		/* A parameter name may be quoted as a whole word ("name=v"). */
		if (w[0] == '"') {
			w++;
			len--;
		}
		if (len >= n && !strncmp(w, name, n) && (len == n || w[n] == '=' || w[n] == '"'))
			return true;
	}
	return false;
}

int cmdline_add(const char *cmdline, const char *extra, char *out, size_t outlen)
{
	const char *s = cmdline ? cmdline : "";
	size_t end = params_end(s), head = end;
	int n;

	/* Drop the spaces before the split point; one goes back in below. */
	while (head > 0 && is_space(s[head - 1]))
		head--;
	if (!extra || !*extra)
		n = snprintf(out, outlen, "%s", s);
	else if (s[end])
		n = snprintf(out, outlen, "%.*s%s%s %s", (int)head, s, head ? " " : "", extra,
			     s + end);
	else
		n = snprintf(out, outlen, "%.*s%s%s", (int)head, s, head ? " " : "", extra);
	return n < 0 || (size_t)n >= outlen ? -ENOSPC : 0;
}
