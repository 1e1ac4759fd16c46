/* The model unit of the run firmware (built with -DTG_RUN): every API call the comparison needs, in one
 * translation unit so the header's tables are in flash once. main.c compares the simulator-visible outputs:
 * NAME_scores(x) and NAME_predict(x); for fixed-point models (-DTG_FIXED) also NAME_quantize_input,
 * NAME_scores_q and NAME_predict_q, which must give the same scores and prediction; with -DTG_PROBA the
 * three predict_proba functions, which must agree (and NAME_proba_from_scores is timed).
 */
#include <stdint.h>

#include TG_HEADER

#define TG_CAT2(a, b) a##b
#define TG_CAT(a, b) TG_CAT2(a, b)
#define TG(symbol) TG_CAT(TG_NAME, symbol)

TG(_prediction_t) tg_predict(const float *x);
void tg_scores(const float *x, TG(_score_t) *out);

TG(_prediction_t) tg_predict(const float *x)
{
    return TG(_predict)(x);
}

void tg_scores(const float *x, TG(_score_t) *out)
{
    TG(_scores)(x, out);
}

#ifdef TG_FIXED
void tg_quantize(const float *x, TG(_input_t) *x_q);
void tg_scores_q(const TG(_input_t) *x_q, TG(_score_t) *out);
TG(_prediction_t) tg_predict_q(const TG(_input_t) *x_q);

void tg_quantize(const float *x, TG(_input_t) *x_q)
{
    TG(_quantize_input)(x, x_q);
}

void tg_scores_q(const TG(_input_t) *x_q, TG(_score_t) *out)
{
    TG(_scores_q)(x_q, out);
}

TG(_prediction_t) tg_predict_q(const TG(_input_t) *x_q)
{
    return TG(_predict_q)(x_q);
}
#endif

#ifdef TG_PROBA
void tg_predict_proba(const float *x, uint16_t *proba);
void tg_predict_proba_q(const TG(_input_t) *x_q, uint16_t *proba);
void tg_proba_from_scores(const TG(_score_t) *scores, uint16_t *proba);

void tg_predict_proba(const float *x, uint16_t *proba)
{
    TG(_predict_proba)(x, proba);
}

void tg_predict_proba_q(const TG(_input_t) *x_q, uint16_t *proba)
{
    TG(_predict_proba_q)(x_q, proba);
}

void tg_proba_from_scores(const TG(_score_t) *scores, uint16_t *proba)
{
    TG(_proba_from_scores)(scores, proba);
}
#endif

#ifdef TG_WINDOW
/* Window programs: the row arrives frame by frame (NAME_quantize_frame, NAME_push); after N_FEATURES / N_CHANNELS
 * pushes from NAME_stream_init the ring holds the window time-major from frame 0, what NAME_predict_q takes. */
void tg_window_begin(void);
void tg_window_frame(const float *frame);
TG(_prediction_t) tg_predict_latest(void);
void tg_scores_latest(TG(_score_t) *out);
const TG(_input_t) *tg_window_samples(void);

static TG(_stream_t) stream;

void tg_window_begin(void)
{
    TG(_stream_init)(&stream);
}

void tg_window_frame(const float *frame)
{
    int16_t raw[TG(_N_CHANNELS)];
    TG(_quantize_frame)(frame, raw);
    (void)TG(_push)(&stream, raw);
}

TG(_prediction_t) tg_predict_latest(void)
{
    return TG(_predict_latest)(&stream);
}

void tg_scores_latest(TG(_score_t) *out)
{
    TG(_scores_ring)(stream.ring, stream.next, out);
}

const TG(_input_t) *tg_window_samples(void)
{
    return stream.ring;
}
#endif

#ifdef TG_TRAIN
#include "train_calls.h"
#endif
