/* Host driver for AVR firmware under libsimavr: exact cycles and peak stack of marked regions.
 *
 * Build: gcc -O2 driver.c $(pkg-config --cflags --libs simavr) -lelf -o tinygen-avr-driver
 * Run:   tinygen-avr-driver [-m MCU] [-f HZ] [-c CYCLE_LIMIT] [-i INPUT] [-r REGIONS] [-e EEPROM] FIRMWARE.elf
 *
 * - Every byte the firmware sends on UART0 goes to stdout unchanged (simavr's own chatter, which libsimavr
 *   prints on stdout, is moved to stderr). The bytes of INPUT, if given, arrive on UART0's receiver, paced by
 *   the UART's flow control (XON/XOFF irqs), so the firmware can poll or use the RX interrupt.
 * - Regions: the firmware writes a region id (1..255) to GPIOR0 (I/O 0x1E, data address 0x3E) to start a
 *   region and 0 to end it. Both writes are timestamped with avr->cycle; the stack pointer is sampled after
 *   every instruction. The cycle count of a region includes the starting OUT instruction, so an empty region
 *   measures 1 cycle.
 * - REGIONS (stderr if not given) gets one line per closed region and a last line for the run:
 *     region ID CYCLES STACK_BYTES SP_START SP_MIN
 *     end STATE CYCLES STACK_PEAK RAMEND INPUT_LEFT         (STATE: done, crashed, cycle-limit)
 *   STACK_BYTES = SP_START - SP_MIN (bytes pushed below the stack pointer at the region start);
 *   STACK_PEAK = RAMEND - lowest SP of the whole run.
 * - EEPROM, if given: its bytes (if the file exists) are the EEPROM's contents at power-on, and the whole EEPROM
 *   is written back to it when the run ends, so a second run starts from what the first one stored (a reboot).
 *   A missing file is an erased EEPROM (simavr's 0xFF).
 * - The run stops when the firmware sleeps with interrupts off (cli; sleep: exit 0), crashes (exit 2) or
 *   passes CYCLE_LIMIT (exit 3). Sleeping with interrupts on does not wait in real time. Usage or load
 *   errors exit 1.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sim_avr.h>
#include <sim_elf.h>
#include <sim_io.h>
#include <sim_irq.h>
#include <avr_uart.h>
#include <avr_eeprom.h>

#define GPIOR0_ADDR 0x3E

static FILE *uart_out;
static FILE *region_out;

static unsigned region_id;          /* 0: no region open */
static avr_cycle_count_t region_start;
static uint16_t region_sp_start;
static uint16_t region_sp_min;

static uint8_t *input;
static size_t input_len;
static size_t input_pos;
static int input_off;               /* XOFF: the receive fifo is full */
static avr_irq_t *uart_input_irq;

static uint16_t read_sp(avr_t *avr)
{
    return (uint16_t)(avr->data[R_SPL] | (avr->data[R_SPH] << 8));
}

static void close_region(avr_t *avr)
{
    fprintf(region_out, "region %u %llu %u %u %u\n", region_id,
            (unsigned long long)(avr->cycle - region_start), (unsigned)(region_sp_start - region_sp_min),
            (unsigned)region_sp_start, (unsigned)region_sp_min);
    region_id = 0;
}

/* GPIOR0 write hook: the hook replaces the register write, so it stores the value itself. */
static void gpior0_write(avr_t *avr, avr_io_addr_t addr, uint8_t value, void *param)
{
    (void)param;
    avr->data[addr] = value;
    if (region_id != 0) {
        close_region(avr);
    }
    if (value != 0) {
        region_id = value;
        region_start = avr->cycle;
        region_sp_start = read_sp(avr);
        region_sp_min = region_sp_start;
    }
}

static void uart_output(avr_irq_t *irq, uint32_t value, void *param)
{
    (void)irq;
    (void)param;
    fputc((int)(value & 0xFF), uart_out);
}

static void uart_xon(avr_irq_t *irq, uint32_t value, void *param)
{
    (void)irq;
    (void)param;
    if (!value) {
        return;
    }
    input_off = 0;
    while (!input_off && input_pos < input_len) {
        avr_raise_irq(uart_input_irq, input[input_pos++]);
    }
}

static void uart_xoff(avr_irq_t *irq, uint32_t value, void *param)
{
    (void)irq;
    (void)param;
    input_off = value != 0;
}

/* No real-time waiting: a firmware sleeping with interrupts on just lets emulated time pass. */
static void no_sleep(avr_t *avr, avr_cycle_count_t how_long)
{
    (void)avr;
    (void)how_long;
}

static void logger(avr_t *avr, const int level, const char *format, va_list ap)
{
    (void)avr;
    if (level <= LOG_ERROR) {
        vfprintf(stderr, format, ap);
    }
}

static int read_file(const char *path, uint8_t **data, size_t *len)
{
    FILE *f = fopen(path, "rb");
    size_t cap = 1 << 16;
    size_t n = 0;
    uint8_t *buf;
    if (f == NULL) {
        return -1;
    }
    buf = malloc(cap);
    while (buf != NULL) {
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (n < cap) {
            break;
        }
        cap *= 2;
        buf = realloc(buf, cap);
    }
    if (buf == NULL || ferror(f)) {
        fclose(f);
        free(buf);
        return -1;
    }
    fclose(f);
    *data = buf;
    *len = n;
    return 0;
}

static void usage(const char *argv0)
{
    fprintf(stderr, "usage: %s [-m MCU] [-f HZ] [-c CYCLE_LIMIT] [-i INPUT] [-r REGIONS] [-e EEPROM] FIRMWARE.elf\n",
            argv0);
}

/* Power-on EEPROM from the file, if it exists (at most the part's size); 0 on success or no file. */
static int eeprom_load(avr_t *avr, const char *path)
{
    uint8_t *data;
    size_t len;
    avr_eeprom_desc_t desc;

    if (access(path, F_OK) != 0) {
        return 0;
    }
    if (read_file(path, &data, &len) != 0) {
        return -1;
    }
    if (len > (size_t)avr->e2end + 1) {
        free(data);
        return -1;
    }
    desc.ee = data;
    desc.offset = 0;
    desc.size = (uint32_t)len;
    if (len > 0) {
        avr_ioctl(avr, AVR_IOCTL_EEPROM_SET, &desc);  /* its result is -1 even on success in simavr 1.6 */
    }
    free(data);
    return 0;
}

/* The whole EEPROM into the file (what the next run powers on with). */
static int eeprom_save(avr_t *avr, const char *path)
{
    avr_eeprom_desc_t desc;
    FILE *f;
    int ok;

    desc.ee = NULL;  /* simavr points it at its own bytes (its result is -1 even on success in simavr 1.6) */
    desc.offset = 0;
    desc.size = (uint32_t)(avr->e2end + 1);
    avr_ioctl(avr, AVR_IOCTL_EEPROM_GET, &desc);
    if (desc.ee == NULL || (f = fopen(path, "wb")) == NULL) {
        return -1;
    }
    ok = fwrite(desc.ee, 1, desc.size, f) == desc.size;
    return (fclose(f) == 0 && ok) ? 0 : -1;
}

int main(int argc, char **argv)
{
    static elf_firmware_t firmware;
    const char *mcu = NULL;
    unsigned long frequency = 0;
    unsigned long long cycle_limit = 0;   /* 0: none */
    const char *input_path = NULL;
    const char *region_path = NULL;
    const char *eeprom_path = NULL;
    const char *state_name;
    avr_t *avr;
    uint16_t sp_min;
    uint32_t uart_flags = 0;
    int stdout_fd;
    int state;
    int status;
    int opt;

    while ((opt = getopt(argc, argv, "m:f:c:i:r:e:")) != -1) {
        switch (opt) {
        case 'm': mcu = optarg; break;
        case 'f': frequency = strtoul(optarg, NULL, 0); break;
        case 'c': cycle_limit = strtoull(optarg, NULL, 0); break;
        case 'i': input_path = optarg; break;
        case 'r': region_path = optarg; break;
        case 'e': eeprom_path = optarg; break;
        default: usage(argv[0]); return 1;
        }
    }
    if (optind != argc - 1) {
        usage(argv[0]);
        return 1;
    }

    /* stdout carries the UART bytes only: libsimavr prints its messages on stdout, send those to stderr. */
    stdout_fd = dup(1);
    if (stdout_fd < 0 || dup2(2, 1) < 0 || (uart_out = fdopen(stdout_fd, "wb")) == NULL) {
        fprintf(stderr, "cannot set up stdout: %s\n", strerror(errno));
        return 1;
    }
    region_out = stderr;
    if (region_path != NULL && (region_out = fopen(region_path, "w")) == NULL) {
        fprintf(stderr, "cannot write %s: %s\n", region_path, strerror(errno));
        return 1;
    }
    if (input_path != NULL && read_file(input_path, &input, &input_len) != 0) {
        fprintf(stderr, "cannot read %s: %s\n", input_path, strerror(errno));
        return 1;
    }
    avr_global_logger_set(logger);

    if (elf_read_firmware(argv[optind], &firmware) != 0) {
        fprintf(stderr, "cannot load firmware %s\n", argv[optind]);
        return 1;
    }
    if (mcu == NULL) {
        mcu = firmware.mmcu[0] ? firmware.mmcu : "atmega328p";
    }
    if (frequency == 0) {
        frequency = firmware.frequency ? firmware.frequency : 16000000UL;
    }
    avr = avr_make_mcu_by_name(mcu);
    if (avr == NULL) {
        fprintf(stderr, "unknown AVR part %s\n", mcu);
        return 1;
    }
    avr_init(avr);
    avr->frequency = (uint32_t)frequency;
    avr->log = LOG_ERROR;
    avr_load_firmware(avr, &firmware);
    avr->sleep = no_sleep;
    if (eeprom_path != NULL && eeprom_load(avr, eeprom_path) != 0) {
        fprintf(stderr, "cannot load %s into the EEPROM (larger than the part's %u bytes?)\n", eeprom_path,
                (unsigned)(avr->e2end + 1));
        return 1;
    }

    /* UART0: no console echo, no usleep() in polling loops; bytes out to stdout, INPUT in with flow control. */
    if (avr_ioctl(avr, AVR_IOCTL_UART_GET_FLAGS('0'), &uart_flags) == 0) {
        uart_flags &= ~(uint32_t)(AVR_UART_FLAG_STDIO | AVR_UART_FLAG_POLL_SLEEP);
        avr_ioctl(avr, AVR_IOCTL_UART_SET_FLAGS('0'), &uart_flags);
    }
    avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUTPUT), uart_output, NULL);
    uart_input_irq = avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_INPUT);
    avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUT_XON), uart_xon, NULL);
    avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUT_XOFF), uart_xoff, NULL);

    avr_register_io_write(avr, GPIOR0_ADDR, gpior0_write, NULL);

    sp_min = read_sp(avr);
    for (;;) {
        uint16_t sp;
        state = avr_run(avr);
        if (state == cpu_Done || state == cpu_Crashed) {
            break;
        }
        sp = read_sp(avr);
        if (sp < sp_min) {
            sp_min = sp;
        }
        if (region_id != 0 && sp < region_sp_min) {
            region_sp_min = sp;
        }
        if (cycle_limit != 0 && avr->cycle > cycle_limit) {
            break;
        }
    }
    if (region_id != 0) {
        close_region(avr);
    }
    if (state == cpu_Done) {
        state_name = "done";
        status = 0;
    } else if (state == cpu_Crashed) {
        state_name = "crashed";
        status = 2;
    } else {
        state_name = "cycle-limit";
        status = 3;
    }
    fprintf(region_out, "end %s %llu %u %u %lu\n", state_name, (unsigned long long)avr->cycle,
            (unsigned)(avr->ramend - sp_min), (unsigned)avr->ramend, (unsigned long)(input_len - input_pos));
    fflush(uart_out);
    if (eeprom_path != NULL && eeprom_save(avr, eeprom_path) != 0) {
        fprintf(stderr, "cannot write the EEPROM to %s\n", eeprom_path);
        status = 1;
    }
    if (region_out != stderr) {
        fclose(region_out);
    }
    if (status == 2) {
        fprintf(stderr, "firmware crashed at pc 0x%04x after %llu cycles\n", (unsigned)avr->pc,
                (unsigned long long)avr->cycle);
    } else if (status == 3) {
        fprintf(stderr, "cycle limit %llu reached\n", cycle_limit);
    }
    return status;
}
