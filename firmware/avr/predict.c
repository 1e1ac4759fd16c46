/* The model unit of the sized firmware: NAME_predict only. main.c times tg_predict between its GPIOR0
 * markers; in a translation unit of its own, the compiler cannot move model work across the markers. The
 * cycles and stack that tinygen reports are measured in this firmware, the one whose flash and RAM it
 * reports, so all three describe the same machine code.
 *
 * -DTG_STUB: no model at all (tg_predict returns 0): the baseline the model's flash and RAM are measured
 *            against.
 * tg_scores writes zeros here: the raw scores come from the run firmware (model.c).
 * -DTG_WINDOW (window programs): the row arrives frame by frame into a stream (tg_window_frame: NAME_quantize_frame
 *            and NAME_push) and tg_predict_latest is what is timed: NAME_predict_latest, the int16 streaming path.
 */
#include <stdint.h>
#include <string.h>

#include TG_HEADER

#define TG_CAT2(a, b) a##b
#define TG_CAT(a, b) TG_CAT2(a, b)
#define TG(symbol) TG_CAT(TG_NAME, symbol)

TG(_prediction_t) tg_predict(const float *x);
void tg_scores(const float *x, TG(_score_t) *out);

TG(_prediction_t) tg_predict(const float *x)
{
#ifdef TG_STUB
    (void)x;
    return 0;
#else
    return TG(_predict)(x);
#endif
}

void tg_scores(const float *x, TG(_score_t) *out)
{
    (void)x;
    memset(out, 0, sizeof(TG(_score_t)) * TG(_N_OUTPUTS));
}

#ifdef TG_WINDOW
void tg_window_begin(void);
void tg_window_frame(const float *frame);
TG(_prediction_t) tg_predict_latest(void);
void tg_scores_latest(TG(_score_t) *out);

#ifndef TG_STUB
static TG(_stream_t) stream;
#endif

void tg_window_begin(void)
{
#ifndef TG_STUB
    TG(_stream_init)(&stream);
#endif
}

void tg_window_frame(const float *frame)
{
#ifdef TG_STUB
    (void)frame;
#else
    int16_t raw[TG(_N_CHANNELS)];
    TG(_quantize_frame)(frame, raw);
    (void)TG(_push)(&stream, raw);
#endif
}

TG(_prediction_t) tg_predict_latest(void)
{
#ifdef TG_STUB
    return 0;
#else
    return TG(_predict_latest)(&stream);
#endif
}

void tg_scores_latest(TG(_score_t) *out)
{
    memset(out, 0, sizeof(TG(_score_t)) * TG(_N_OUTPUTS));
}
#endif

#ifdef TG_TRAIN
#include "train_calls.h"
#endif
