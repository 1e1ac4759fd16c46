/* QEMU TCG plugin: counts guest instructions executed between two marker functions.
 *
 * Build: gcc -shared -fPIC -O2 -o insn_regions.so insn_regions.c   (no QEMU headers needed)
 * Use:   qemu-system-... -plugin insn_regions.so,begin=0xADDR,end=0xADDR,out=counts.txt ...
 *
 * Every guest instruction adds 1 to a 64-bit counter (an inline add, no helper call). When execution
 * reaches the first instruction of the begin marker the counter is snapshotted; when it reaches the end
 * marker, the difference is written to `out` as one decimal line. The firmware calls
 * bench_begin(); work(); bench_end(); so each line is the instructions of one region, and the same
 * constant overhead (the marker's own return and the call of the end marker) is in every line: the caller
 * measures an empty region and subtracts it. Addresses are instruction addresses (for Thumb, without
 * the Thumb bit). A region begun but never ended writes nothing; an end without a begin writes "-1".
 *
 * Debian's QEMU 7.2 supports plugins (API version 1) but ships no qemu-plugin.h, so the few API functions
 * used here are declared by hand, exactly as in QEMU 7.2's include/qemu/qemu-plugin.h.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- QEMU plugin API, version 1 (QEMU 7.2), the subset this plugin uses ---- */
typedef uint64_t qemu_plugin_id_t;
struct qemu_plugin_tb;
struct qemu_plugin_insn;
enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS, QEMU_PLUGIN_CB_R_REGS, QEMU_PLUGIN_CB_RW_REGS };
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 };
typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
typedef void (*qemu_plugin_vcpu_udata_cb_t)(unsigned int vcpu_index, void *userdata);
typedef void (*qemu_plugin_udata_cb_t)(qemu_plugin_id_t id, void *userdata);

void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_tb_trans_cb_t cb);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb, size_t idx);
uint64_t qemu_plugin_insn_vaddr(const struct qemu_plugin_insn *insn);
void qemu_plugin_register_vcpu_insn_exec_inline(struct qemu_plugin_insn *insn, enum qemu_plugin_op op,
                                                void *ptr, uint64_t imm);
void qemu_plugin_register_vcpu_insn_exec_cb(struct qemu_plugin_insn *insn, qemu_plugin_vcpu_udata_cb_t cb,
                                            enum qemu_plugin_cb_flags flags, void *userdata);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, qemu_plugin_udata_cb_t cb, void *userdata);

#define EXPORT __attribute__((visibility("default")))
EXPORT int qemu_plugin_version = 1;
/* ---- end of the API declarations ---- */

static uint64_t executed;      /* guest instructions so far (one vCPU: the M-profile and virt runs use one) */
static uint64_t region_start;
static int in_region;
static uint64_t begin_addr = UINT64_MAX;
static uint64_t end_addr = UINT64_MAX;
static FILE *out;

static void on_begin(unsigned int vcpu_index, void *userdata)
{
    (void)vcpu_index;
    (void)userdata;
    region_start = executed;
    in_region = 1;
}

static void on_end(unsigned int vcpu_index, void *userdata)
{
    (void)vcpu_index;
    (void)userdata;
    if (in_region) {
        fprintf(out, "%" PRIu64 "\n", executed - region_start);
    } else {
        fputs("-1\n", out);
    }
    in_region = 0;
}

static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    size_t n = qemu_plugin_tb_n_insns(tb);
    size_t i;
    (void)id;
    for (i = 0; i < n; i++) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        uint64_t vaddr = qemu_plugin_insn_vaddr(insn);
        /* Whether QEMU runs a callback before or after the inline add of the same instruction, it does
         * so at both markers alike: the difference is the same either way. */
        if (vaddr == begin_addr) {
            qemu_plugin_register_vcpu_insn_exec_cb(insn, on_begin, QEMU_PLUGIN_CB_NO_REGS, NULL);
        } else if (vaddr == end_addr) {
            qemu_plugin_register_vcpu_insn_exec_cb(insn, on_end, QEMU_PLUGIN_CB_NO_REGS, NULL);
        }
        qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64, &executed, 1);
    }
}

static void on_qemu_exit(qemu_plugin_id_t id, void *userdata)
{
    (void)id;
    (void)userdata;
    fprintf(out, "total %" PRIu64 "\n", executed);
    fclose(out);
}

static int parse_address(const char *text, uint64_t *value)
{
    char *rest;
    unsigned long long parsed = strtoull(text, &rest, 0);
    if (*text == '\0' || *rest != '\0') {
        return -1;
    }
    *value = (uint64_t)parsed & ~(uint64_t)1; /* drop a Thumb bit */
    return 0;
}

EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const void *info, int argc, char **argv)
{
    const char *out_path = NULL;
    int i;
    (void)info;
    for (i = 0; i < argc; i++) {
        if (strncmp(argv[i], "begin=", 6) == 0) {
            if (parse_address(argv[i] + 6, &begin_addr) != 0) {
                fprintf(stderr, "insn_regions: bad address %s\n", argv[i]);
                return -1;
            }
        } else if (strncmp(argv[i], "end=", 4) == 0) {
            if (parse_address(argv[i] + 4, &end_addr) != 0) {
                fprintf(stderr, "insn_regions: bad address %s\n", argv[i]);
                return -1;
            }
        } else if (strncmp(argv[i], "out=", 4) == 0) {
            out_path = argv[i] + 4;
        } else {
            fprintf(stderr, "insn_regions: unknown argument %s (expected begin=, end=, out=)\n", argv[i]);
            return -1;
        }
    }
    if (begin_addr == UINT64_MAX || end_addr == UINT64_MAX || out_path == NULL) {
        fprintf(stderr, "insn_regions: begin=ADDR, end=ADDR and out=PATH are required\n");
        return -1;
    }
    out = fopen(out_path, "w");
    if (out == NULL) {
        fprintf(stderr, "insn_regions: cannot write %s\n", out_path);
        return -1;
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
    qemu_plugin_register_atexit_cb(id, on_qemu_exit, NULL);
    return 0;
}
