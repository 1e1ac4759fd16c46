/* A virtual Arduino Uno: an ATmega328P at 16 MHz under libsimavr that starts in its bootloader, with UART0 on a
 * pseudo-terminal, so the real avrdude can flash it and a serial program can talk to the firmware, as on the board.
 *
 * Build: gcc -O2 board_sim.c $(pkg-config --cflags --libs simavr) -lelf -lutil -o tinygen-board-sim
 * Run:   tinygen-board-sim -b BOOTLOADER.hex [-B BOOT_BYTE_ADDRESS] [-a APP.hex] [-m MCU] [-f HZ] [-v]
 *
 * - Prints "port /dev/pts/N" on stdout once the port is ready, then runs until SIGINT or SIGTERM (exit 0), or
 *   until its parent dies (the tests' cleanup cannot leave it behind).
 * - The CPU starts at the bootloader (BOOT_BYTE_ADDRESS, default 0x7C00: what the BOOTRST fuse does), after
 *   every reset, the watchdog's included; the bootloader starts the application itself.
 * - Opening the port resets the board with the external-reset flag set, as DTR does through the Uno's
 *   capacitor; optiboot stays in the bootloader only after such a reset. Opens are seen through inotify, so a
 *   close and reopen faster than the emulation looks at the port still resets it.
 * - Emulated time is paced to the wall clock: the bootloader's timeouts are real-time ones on a board, and
 *   avrdude's timing expects them. When the host falls behind (a loaded machine), the emulation catches up.
 * - UART bytes the firmware sends while nobody has the port open are dropped (a USB-serial chip does that too).
 * - A firmware that sleeps with interrupts off (or crashes) halts the board until the next reset, keeping
 *   its flash.
 *
 * simavr is GPL-3: this driver is a test and development tool built on the user's machine, never shipped linked
 * into tinygen.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <sim_avr.h>
#include <sim_io.h>
#include <sim_irq.h>
#include <avr_uart.h>

#define UCSR0B_ADDR 0xC1 /* ATmega328P data address of UCSR0B */
#define RXEN0_BIT 4
#define SLICE_US 100 /* emulated time between two looks at the port */
#define AHEAD_SLEEP_NS 1000000LL /* sleep once the emulation is this far ahead of the wall clock */
#define QUEUE_BYTES 65536

struct queue {
    uint8_t bytes[QUEUE_BYTES];
    size_t head; /* next to take */
    size_t tail; /* next free */
};

static volatile sig_atomic_t stop_requested;
static int verbose;
static const char *mcu_name = "atmega328p";
static unsigned long frequency = 16000000UL;
static uint32_t boot_address = 0x7C00;

static avr_t *avr;
static uint8_t *flash_copy; /* the flash kept across a halt (simavr frees it when the firmware stops) */
static uint32_t flash_size;
static int halted; /* the firmware slept with interrupts off, or crashed: nothing runs until a reset */
static int uart_full; /* the UART's receive fifo is full (XOFF) */
static int port_open; /* someone has the pty open */
static int master_fd = -1;
static int opens_fd = -1; /* inotify: every open of the pty, however short (a close and reopen between two looks) */
static struct queue to_board; /* bytes the host wrote, waiting for the UART's receiver */
static struct queue to_host; /* bytes the firmware sent, waiting for the pty */

static void note(const char *format, ...)
{
    va_list ap;
    if (!verbose) {
        return;
    }
    va_start(ap, format);
    fprintf(stderr, "board-sim: ");
    vfprintf(stderr, format, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static size_t queue_len(const struct queue *q)
{
    return q->tail - q->head;
}

static void queue_put(struct queue *q, uint8_t byte)
{
    if (q->head == q->tail) {
        q->head = q->tail = 0;
    }
    if (q->tail == QUEUE_BYTES && q->head > 0) { /* slide the waiting bytes to the front */
        memmove(q->bytes, q->bytes + q->head, q->tail - q->head);
        q->tail -= q->head;
        q->head = 0;
    }
    if (q->tail < QUEUE_BYTES) {
        q->bytes[q->tail++] = byte;
    }
}

static void on_signal(int signal_number)
{
    (void)signal_number;
    stop_requested = 1;
}

static void logger(avr_t *core, const int level, const char *format, va_list ap)
{
    (void)core;
    if (level <= LOG_ERROR || verbose > 1) {
        vfprintf(stderr, format, ap);
    }
}

/* Intel hex into a flash image, every record checked against the flash's size (simavr's reader does not). */
static int load_hex(const char *path, uint8_t *flash, uint32_t size)
{
    FILE *f = fopen(path, "r");
    char line[600];
    uint32_t base = 0;
    int line_number = 0;
    if (f == NULL) {
        fprintf(stderr, "board-sim: cannot read %s: %s\n", path, strerror(errno));
        return -1;
    }
    while (fgets(line, sizeof line, f) != NULL) {
        unsigned count, address, type, value, i;
        line_number++;
        if (line[0] != ':') {
            continue;
        }
        if (sscanf(line + 1, "%2x%4x%2x", &count, &address, &type) != 3 || strlen(line) < 11 + 2 * count) {
            fprintf(stderr, "board-sim: %s:%d: not an Intel hex record\n", path, line_number);
            fclose(f);
            return -1;
        }
        if (type == 1) {
            break;
        }
        if (type == 2 || type == 4) { /* extended segment / linear address */
            sscanf(line + 9, "%4x", &value);
            base = type == 2 ? value << 4 : value << 16;
            continue;
        }
        if (type != 0) { /* start addresses: nothing to load */
            continue;
        }
        if (base + address + count > size) {
            fprintf(stderr, "board-sim: %s:%d: data at 0x%x is past the %u B flash\n", path, line_number,
                    base + address, size);
            fclose(f);
            return -1;
        }
        for (i = 0; i < count; i++) {
            sscanf(line + 9 + 2 * i, "%2x", &value);
            flash[base + address + i] = (uint8_t)value;
        }
    }
    fclose(f);
    return 0;
}

/* simavr frees the flash when a firmware stops for good: keep it, as the chip would */
static void keep_flash(avr_t *core, void *data)
{
    (void)data;
    if (core->flash != NULL) {
        memcpy(flash_copy, core->flash, flash_size);
    }
}

static void uart_output(avr_irq_t *irq, uint32_t value, void *param)
{
    (void)irq;
    (void)param;
    if (port_open) {
        queue_put(&to_host, (uint8_t)value);
    }
}

static void uart_xon(avr_irq_t *irq, uint32_t value, void *param)
{
    (void)irq;
    (void)param;
    if (value) {
        uart_full = 0;
    }
}

static void uart_xoff(avr_irq_t *irq, uint32_t value, void *param)
{
    (void)irq;
    (void)param;
    uart_full = value != 0;
}

static void no_sleep(avr_t *core, avr_cycle_count_t how_long)
{
    (void)core;
    (void)how_long; /* the main loop paces emulated time to the wall clock */
}

/* A fresh chip with the kept flash: at start, and after a halt (simavr cannot run a stopped core again). */
static int make_chip(void)
{
    uint32_t flags = 0;
    avr = avr_make_mcu_by_name(mcu_name);
    if (avr == NULL) {
        fprintf(stderr, "board-sim: unknown AVR part %s\n", mcu_name);
        return -1;
    }
    avr_init(avr);
    avr->frequency = (uint32_t)frequency;
    avr->log = LOG_ERROR;
    memcpy(avr->flash, flash_copy, flash_size);
    avr->codeend = avr->flashend;
    avr->custom.deinit = keep_flash;
    avr->sleep = no_sleep;
    if (avr_ioctl(avr, AVR_IOCTL_UART_GET_FLAGS('0'), &flags) == 0) { /* no console echo, no usleep on polls */
        flags &= ~(uint32_t)(AVR_UART_FLAG_STDIO | AVR_UART_FLAG_POLL_SLEEP);
        avr_ioctl(avr, AVR_IOCTL_UART_SET_FLAGS('0'), &flags);
    }
    avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUTPUT), uart_output, NULL);
    avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUT_XON), uart_xon, NULL);
    avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUT_XOFF), uart_xoff, NULL);
    avr->reset_pc = avr->pc = boot_address;
    halted = 0;
    uart_full = 0;
    return 0;
}

/* The reset pin pulled low by DTR: the bootloader starts and sees the external-reset flag. */
static int external_reset(void)
{
    if (halted) {
        if (avr->flash != NULL) {
            avr_terminate(avr); /* simavr may have done it already when the firmware stopped */
        }
        free(avr);
        if (make_chip() != 0) {
            return -1;
        }
    } else {
        avr_reset(avr);
        avr->pc = boot_address;
    }
    avr_regbit_set(avr, avr->reset_flags.extrf);
    uart_full = 0;
    to_board.head = to_board.tail = 0;
    note("reset (port opened)");
    return 0;
}

/* A pty in raw mode (so that it does not echo), opened and closed once: only then does it report "hung up"
 * while nobody has it open (output is dropped then); opens are watched with inotify from then on. */
static int open_port(char *path, size_t path_size)
{
    struct termios raw;
    int slave;
    master_fd = posix_openpt(O_RDWR | O_NOCTTY | O_NONBLOCK);
    if (master_fd < 0 || grantpt(master_fd) != 0 || unlockpt(master_fd) != 0 ||
        ptsname_r(master_fd, path, path_size) != 0) {
        fprintf(stderr, "board-sim: cannot make a pseudo-terminal: %s\n", strerror(errno));
        return -1;
    }
    slave = open(path, O_RDWR | O_NOCTTY);
    if (slave < 0 || tcgetattr(slave, &raw) != 0) {
        fprintf(stderr, "board-sim: cannot open %s: %s\n", path, strerror(errno));
        return -1;
    }
    cfmakeraw(&raw);
    tcsetattr(slave, TCSANOW, &raw);
    close(slave);
    opens_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (opens_fd < 0 || inotify_add_watch(opens_fd, path, IN_OPEN) < 0) {
        fprintf(stderr, "board-sim: cannot watch %s for opens: %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* Whether the port was opened since the last look (any number of times: one reset). */
static int port_was_opened(void)
{
    char events[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    int opened = 0;
    ssize_t got;
    while ((got = read(opens_fd, events, sizeof events)) > 0) {
        for (char *p = events; p < events + got; p += sizeof(struct inotify_event) + ((struct inotify_event *)p)->len) {
            opened |= (((struct inotify_event *)p)->mask & IN_OPEN) != 0;
        }
    }
    return opened;
}

/* One look at the port: notice opens and closes, take the host's bytes, give it the firmware's. */
static int service_port(void)
{
    struct pollfd fds = {master_fd, POLLIN | (queue_len(&to_host) ? POLLOUT : 0), 0};
    int was_open = port_open;
    if (poll(&fds, 1, 0) < 0 && errno != EINTR) {
        return -1;
    }
    port_open = !(fds.revents & POLLHUP);
    if (port_was_opened()) {
        if (external_reset() != 0) {
            return -1;
        }
        port_open = 1; /* it may be closed again already: its output is dropped at the next look */
    }
    if (!port_open) {
        if (was_open) {
            note("port closed");
        }
        to_host.head = to_host.tail = 0;
        return 0;
    }
    if (fds.revents & POLLIN) {
        uint8_t buffer[4096];
        size_t room = QUEUE_BYTES - queue_len(&to_board);
        ssize_t got = read(master_fd, buffer, room < sizeof buffer ? room : sizeof buffer);
        for (ssize_t i = 0; i < got; i++) {
            queue_put(&to_board, buffer[i]);
        }
    }
    if (queue_len(&to_host)) {
        ssize_t sent = write(master_fd, to_host.bytes + to_host.head, queue_len(&to_host));
        if (sent > 0) {
            to_host.head += (size_t)sent;
        }
    }
    return 0;
}

/* Bytes go to the UART only while its receiver is on and has room: simavr drops them otherwise. */
static void feed_uart(avr_irq_t *input)
{
    while (!halted && queue_len(&to_board) && !uart_full && (avr->data[UCSR0B_ADDR] & (1 << RXEN0_BIT))) {
        avr_raise_irq(input, to_board.bytes[to_board.head++]);
    }
}

static long long now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

/* Run one slice of emulated time; returns the cycles it took (a reset restarts simavr's cycle counter). */
static avr_cycle_count_t run_slice(avr_cycle_count_t slice)
{
    avr_cycle_count_t done = 0;
    avr_cycle_count_t last = avr->cycle;
    while (done < slice) {
        int state = avr_run(avr);
        if (state == cpu_Done || state == cpu_Crashed) {
            note(state == cpu_Done ? "firmware stopped (sleep with interrupts off)" : "firmware crashed at 0x%04x",
                 avr->pc);
            if (avr->flash != NULL) {
                memcpy(flash_copy, avr->flash, flash_size);
            }
            halted = 1;
            return slice;
        }
        done += avr->cycle >= last ? avr->cycle - last : avr->cycle;
        last = avr->cycle;
    }
    return done;
}

static int run_board(void)
{
    avr_irq_t *input = avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_INPUT);
    avr_cycle_count_t slice = (avr_cycle_count_t)frequency / 1000000 * SLICE_US;
    long long start = now_ns();
    long long emulated_ns = 0;
    long long most_behind = 0; /* how far the emulation fell behind the wall clock (-v says it at the end) */
    while (!stop_requested) {
        avr_t *before = avr;
        if (service_port() != 0) {
            return 1;
        }
        if (avr != before) { /* a new chip after a halt: its own UART input */
            input = avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_INPUT);
        }
        feed_uart(input);
        if (!halted) {
            emulated_ns += (long long)(run_slice(slice) * 1000000000ULL / frequency);
        } else {
            emulated_ns += SLICE_US * 1000LL; /* a halted chip's time passes too */
        }
        long long ahead = emulated_ns - (now_ns() - start);
        if (-ahead > most_behind) {
            most_behind = -ahead;
        }
        if (ahead > AHEAD_SLEEP_NS) {
            struct timespec pause = {ahead / 1000000000LL, ahead % 1000000000LL};
            nanosleep(&pause, NULL);
        }
    }
    note("%.1f s emulated in %.1f s, at most %.1f ms behind the wall clock", emulated_ns / 1e9, (now_ns() - start) / 1e9,
         most_behind / 1e6);
    return 0;
}

static void usage(const char *argv0)
{
    fprintf(stderr, "usage: %s -b BOOTLOADER.hex [-B BOOT_BYTE_ADDRESS] [-a APP.hex] [-m MCU] [-f HZ] [-v]\n", argv0);
}

int main(int argc, char **argv)
{
    const char *boot_hex = NULL;
    const char *app_hex = NULL;
    char path[128];
    int opt;
    while ((opt = getopt(argc, argv, "b:B:a:m:f:v")) != -1) {
        switch (opt) {
        case 'b': boot_hex = optarg; break;
        case 'B': boot_address = (uint32_t)strtoul(optarg, NULL, 0); break;
        case 'a': app_hex = optarg; break;
        case 'm': mcu_name = optarg; break;
        case 'f': frequency = strtoul(optarg, NULL, 0); break;
        case 'v': verbose++; break;
        default: usage(argv[0]); return 1;
        }
    }
    if (boot_hex == NULL || optind != argc) {
        usage(argv[0]);
        return 1;
    }
    prctl(PR_SET_PDEATHSIG, SIGTERM); /* a killed test run does not leave boards behind */
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGPIPE, SIG_IGN);
    avr_global_logger_set(logger);

    /* libsimavr prints its chatter on stdout, which carries the port line only */
    int stdout_fd = dup(1);
    FILE *out = stdout_fd < 0 ? NULL : fdopen(stdout_fd, "w");
    if (out == NULL || dup2(2, 1) < 0) {
        fprintf(stderr, "board-sim: cannot set up stdout\n");
        return 1;
    }
    avr = avr_make_mcu_by_name(mcu_name);
    if (avr == NULL) {
        fprintf(stderr, "board-sim: unknown AVR part %s\n", mcu_name);
        return 1;
    }
    flash_size = avr->flashend + 1;
    free(avr);
    flash_copy = malloc(flash_size);
    if (flash_copy == NULL) {
        return 1;
    }
    memset(flash_copy, 0xFF, flash_size);
    if (load_hex(boot_hex, flash_copy, flash_size) != 0 || (app_hex && load_hex(app_hex, flash_copy, flash_size) != 0)) {
        return 1;
    }
    if (boot_address >= flash_size || make_chip() != 0 || open_port(path, sizeof path) != 0) {
        return 1;
    }
    fprintf(out, "port %s\n", path);
    fflush(out);
    return run_board();
}
