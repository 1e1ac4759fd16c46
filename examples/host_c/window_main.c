/* Using a tinygen window header from plain C: stream sensor frames from standard input and print the class of
 * every window.
 *
 *   tinygen train raw.csv --label activity --group recording --window 64 --hop 32 --model forest -o m.skops
 *   tinygen export m.skops --dtype q15 --calibration raw.csv --label activity --group recording --name motion -o out/
 *   gcc -std=c99 -O2 -I out examples/host_c/window_main.c -o stream
 *   ./stream < frames.csv     (one frame per line: motion_N_CHANNELS comma-separated numbers)
 *
 * Each frame goes through motion_quantize_frame (float -> the int16 samples the model was exported for) and
 * motion_push; every motion_HOP frames, once motion_WINDOW have arrived, motion_predict_latest classifies the last
 * window. A device with int16 sensor registers pushes them directly (their scale and offset declared at export).
 */
#include <stdio.h>
#include <stdlib.h>

#include "motion.h"

/* Reads one frame; returns 1 on success, 0 at the end of the input, -1 on a malformed line. */
static int read_frame(float *frame)
{
    char line[1024];
    char *at = line;
    int c;
    if (fgets(line, sizeof line, stdin) == NULL) {
        return 0;
    }
    for (c = 0; c < motion_N_CHANNELS; c++) {
        char *end;
        frame[c] = strtof(at, &end);
        if (end == at) {
            return -1;
        }
        at = end + (*end == ',' ? 1 : 0);
    }
    return 1;
}

int main(void)
{
    static motion_stream_t stream; /* the ring of the last motion_WINDOW frames */
    float frame[motion_N_CHANNELS];
    int16_t raw[motion_N_CHANNELS];
    long line = 0;
    int got;

    motion_stream_init(&stream);
    while ((got = read_frame(frame)) != 0) {
        line++;
        if (got < 0) {
            fprintf(stderr, "line %ld: expected %d comma-separated numbers\n", line, motion_N_CHANNELS);
            return 2;
        }
        motion_quantize_frame(frame, raw);
        if (motion_push(&stream, raw)) {
            motion_prediction_t k = motion_predict_latest(&stream);
            printf("frames %ld-%ld: class %ld (%s)\n", line - motion_WINDOW + 1, line, (long)k, motion_label(k));
        }
    }
    return 0;
}
