/* The model unit of the sized firmware: NAME_predict only. main.c times tg_predict between its GPIOR0
 * markers; in a translation unit of its own, the compiler cannot move model work across the markers. The
 * cycles and stack that tinygen reports are measured in this firmware, the one whose flash and RAM it
 * reports, so all three describe the same machine code.
 *
 * -DTG_STUB: no model at all (tg_predict returns 0): the baseline the model's flash and RAM are measured
 *            against.
 * tg_scores writes zeros here: the raw scores come from the run firmware (model.c).
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
