/* UART0 (8N1) for the AVR firmwares that tinygen and its tests run: polled byte I/O, hex output, and the stop that
 * ends a run under simavr (cli + sleep stops it). Included by main.c, by port.c (the board firmware, at 115,200 baud:
 * it defines TG_UART_UBRR 16 first) and by the tests' own small firmwares, so every one speaks the same protocol
 * basics. static inline: a firmware that leaves one unused is not warned. */
#ifndef TG_AVR_UART_H
#define TG_AVR_UART_H

#include <stdint.h>
#include <avr/interrupt.h>
#include <avr/io.h>
#include <avr/sleep.h>

#ifndef TG_UART_UBRR
#define TG_UART_UBRR 0 /* 16 MHz / 8 / (0 + 1) = 2 Mbaud: simavr's runs */
#endif

static inline void uart_init(void)
{
    UCSR0C = (uint8_t)(_BV(UCSZ01) | _BV(UCSZ00)); /* 8N1 */
    UCSR0A = (uint8_t)_BV(U2X0);
    UBRR0H = 0;
    UBRR0L = TG_UART_UBRR; /* baud = 16 MHz / 8 / (TG_UART_UBRR + 1) */
    UCSR0B = (uint8_t)(_BV(RXEN0) | _BV(TXEN0));
}

static inline void put_byte(uint8_t b)
{
    while (!(UCSR0A & _BV(UDRE0))) {
    }
    UDR0 = b;
}

static inline uint8_t get_byte(void)
{
    while (!(UCSR0A & _BV(RXC0))) {
    }
    return UDR0;
}

/* A little-endian uint16 (the row counts the hosts send). */
static inline uint16_t get_u16(void)
{
    uint16_t low = get_byte();
    return (uint16_t)(low | ((uint16_t)get_byte() << 8));
}

/* n bytes of memory as lowercase hex, in memory order. */
static inline void put_hex(const void *data, uint16_t n)
{
    static const char digits[] = "0123456789abcdef";
    const uint8_t *p = (const uint8_t *)data;
    while (n--) {
        put_byte((uint8_t)digits[*p >> 4]);
        put_byte((uint8_t)digits[*p & 0x0F]);
        p++;
    }
}

/* Let the last byte leave the shift register, then stop: simavr ends the run on sleep with interrupts off. */
static inline void uart_stop(void)
{
    while (!(UCSR0A & _BV(TXC0))) {
    }
    cli();
    sleep_enable();
    sleep_cpu();
    for (;;) {
    }
}

#endif
