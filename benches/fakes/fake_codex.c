/* A Codex stand-in that costs as little as a process can, for timing the
 * runtime's own handoff. It reads the stage name from the prompt (its last
 * argument: the first "Stage:" line, case-insensitive), and answers that
 * stage's happy-path terminal marker, "### <TOKEN>", on stdout and in the
 * file named by --output-last-message. Unknown stages answer BLOCKED.
 *
 *   cc -O2 -o fake_codex benches/fakes/fake_codex.c
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <stdio.h>
#include <string.h>

struct answer { const char *stage, *token; };

static const struct answer ANSWERS[] = {
    {"builder", "BUILDER_COMPLETE"},     {"checker", "CHECKER_PASS"},
    {"updater", "UPDATE_COMPLETE"},      {"fixer", "FIXER_COMPLETE"},
    {"doublechecker", "DOUBLECHECK_PASS"}, {"troubleshooter", "TROUBLESHOOT_COMPLETE"},
    {"consultant", "CONSULT_COMPLETE"},  {"planner", "PLANNER_COMPLETE"},
    {"manager", "MANAGER_COMPLETE"},     {"mechanic", "MECHANIC_COMPLETE"},
    {"auditor", "AUDITOR_COMPLETE"},     {"arbiter", "ARBITER_COMPLETE"},
    {"analyst", "ANALYST_NOOP"},         {"professor", "PROFESSOR_NOOP"},
    {"curator", "CURATOR_NOOP"},
};

static const char *token_for(const char *prompt) {
    const char *at = strcasestr(prompt, "stage:");
    if (!at) return "BUILDER_COMPLETE";
    at += strlen("stage:");
    while (*at == ' ' || *at == '\t') at++;
    char name[64];
    size_t n = 0;
    while (n + 1 < sizeof name && (isalpha((unsigned char)at[n]) || at[n] == '_')) {
        name[n] = (char)tolower((unsigned char)at[n]);
        n++;
    }
    name[n] = '\0';
    for (size_t i = 0; i < sizeof ANSWERS / sizeof ANSWERS[0]; i++)
        if (strcmp(ANSWERS[i].stage, name) == 0) return ANSWERS[i].token;
    return "BLOCKED";
}

int main(int argc, char **argv) {
    const char *last_message = NULL;
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], "--output-last-message") == 0) last_message = argv[i + 1];
    const char *token = token_for(argc > 1 ? argv[argc - 1] : "");
    if (last_message) {
        FILE *f = fopen(last_message, "w");
        if (f) {
            fprintf(f, "### %s\n", token);
            fclose(f);
        }
    }
    printf("### %s\n", token);
    return 0;
}
