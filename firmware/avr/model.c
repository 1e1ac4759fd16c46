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
