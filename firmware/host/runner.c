/* Host test driver: runs every row of a binary float32 file through a generated model header.
 *
 * Build: gcc -std=c99 -O2 -ffp-contract=off -DTG_NAME=activity -DTG_HEADER='"activity.h"' runner.c
 * Run:   runner rows.f32 out.bin
 * rows.f32 holds N_FEATURES float32 per row; out.bin gets, per row, the N_OUTPUTS raw scores followed by
 * the prediction (both in the header's own types). For fixed-point models it also checks that
 * scores_q(quantize_input(x)) gives the same scores as scores(x), and exits 3 if not.
 * -DTG_ANOMALY (IsolationForest headers): each row also gets score_samples_int and decision_function_int
 * (int32_t), then score_samples and decision_function (float).
 * -DTG_PROBA (headers with NAME_predict_proba): each row also gets NAME_predict_proba(x), N_CLASSES uint16_t;
 * NAME_predict_proba_q and NAME_proba_from_scores must give the same (else exit 3, as the split check).
 * -DTG_TRAIN (trainable headers): `runner updates.f32 rows.f32 out.bin`; updates.f32 holds N_FEATURES float32 and
 * the label (float32: the class index, or a regressor's target) per update row, each applied with NAME_partial_fit
 * (NAME_partial_fit_reg) to the default state, and with NAME_partial_fit_q_state to a state of the runner's own;
 * out.bin starts with NAME_weights() (NAME_WEIGHTS_BYTES bytes), NAME_steps() and NAME_saturations() (uint32), then
 * the rows as above, predicted with the trained weights. The runner's own state must end equal to the default one,
 * and NAME_predict_state / NAME_scores_state must agree with NAME_predict / NAME_scores (else exit 3).
 * -DTG_TRAIN_START (with TG_TRAIN): `runner start.bin updates.f32 rows.f32 out.bin`; start.bin holds NAME_WEIGHTS_BYTES
 * bytes loaded with NAME_load_weights (and NAME_load_weights_state into the runner's own state) before the updates:
 * a fleet's round starts from the global weights, not the exported ones.
 * -DTG_MAIN=fn names the entry point fn instead of main: a program can then include this file once per model
 * (TG_NAME, TG_HEADER, TG_MAIN and the flags above set before each) and pick a model at run time.
 */
#include <stdio.h>
#include <string.h>
#include <stdint.h>

#include TG_HEADER

#define TG_CAT2(a, b) a##b
#define TG_CAT(a, b) TG_CAT2(a, b)
#define TG(symbol) TG_CAT(TG_NAME, symbol)

#ifndef TG_MAIN
#define TG_MAIN main
#endif

#ifdef TG_TRAIN
static TG(_train_t) own_state;
static long train_mismatches;

#ifdef TG_TRAIN_START
/* Both states from the weights in start_path (exactly NAME_WEIGHTS_BYTES bytes); 0 on success. */
static int load_start(const char *start_path)
{
    uint8_t start[TG(_WEIGHTS_BYTES) + 1];
    FILE *in = fopen(start_path, "rb");
    size_t got;
    if (in == NULL) {
        fprintf(stderr, "cannot open %s\n", start_path);
        return 2;
    }
    got = fread(start, 1, sizeof start, in);
    fclose(in);
    if (got != TG(_WEIGHTS_BYTES)) {
        fprintf(stderr, "%s holds %lu bytes, not %lu\n", start_path, (unsigned long)got,
                (unsigned long)TG(_WEIGHTS_BYTES));
        return 2;
    }
    TG(_load_weights)(start);
    TG(_load_weights_state)(&own_state, start);
    return 0;
}
#endif

/* The update rows through NAME_partial_fit and, on own_state, NAME_partial_fit_q_state; the trained weights and
 * counters to a new out_path. */
static int train(const char *start_path, const char *updates_path, const char *out_path)
{
    float update[TG(_N_FEATURES) + 1];
    TG(_input_t) x_q[TG(_N_FEATURES)];
    uint32_t counters[2];
    FILE *updates = fopen(updates_path, "rb");
    FILE *out = fopen(out_path, "wb");
    if (updates == NULL || out == NULL) {
        fprintf(stderr, "cannot open files\n");
        return 2;
    }
    TG(_init)();
    TG(_init_state)(&own_state);
#ifdef TG_TRAIN_START
    if (load_start(start_path) != 0) {
        return 2;
    }
#else
    (void)start_path;
#endif
    while (fread(update, sizeof update[0], TG(_N_FEATURES) + 1, updates) == TG(_N_FEATURES) + 1) {
        TG(_quantize_input)(update, x_q);
#ifdef TG_REGRESSION
        TG(_partial_fit_reg)(update, update[TG(_N_FEATURES)]);
        TG(_partial_fit_q_state)(&own_state, x_q, update[TG(_N_FEATURES)]);
#else
        TG(_partial_fit)(update, (int32_t)update[TG(_N_FEATURES)]);
        TG(_partial_fit_q_state)(&own_state, x_q, (int32_t)update[TG(_N_FEATURES)]);
#endif
    }
    fclose(updates);
    if (memcmp(TG(_weights)(), &own_state, TG(_WEIGHTS_BYTES)) != 0 || own_state.steps != TG(_steps)()
            || own_state.saturations != TG(_saturations)()) {
        train_mismatches++;
    }
    counters[0] = TG(_steps)();
    counters[1] = TG(_saturations)();
    fwrite(TG(_weights)(), 1, TG(_WEIGHTS_BYTES), out);
    fwrite(counters, sizeof counters[0], 2, out);
    return fclose(out) != 0 ? 2 : 0;
}
#endif

int TG_MAIN(int argc, char **argv)
{
    float x[TG(_N_FEATURES)];
    TG(_score_t) scores[TG(_N_OUTPUTS)];
    TG(_prediction_t) prediction;
    FILE *in;
    FILE *out;
    long rows = 0;
    long split_mismatches = 0;
#ifdef TG_TRAIN
    const char *start_path = NULL;
#endif

#ifdef TG_TRAIN
#ifdef TG_TRAIN_START
    if (argc != 5) {
        fprintf(stderr, "usage: %s start.bin updates.f32 rows.f32 out.bin\n", argv[0]);
        return 2;
    }
    start_path = argv[1];
    argv++; /* past start.bin: the rest as without it */
#else
    if (argc != 4) {
        fprintf(stderr, "usage: %s updates.f32 rows.f32 out.bin\n", argv[0]);
        return 2;
    }
#endif
    if (train(start_path, argv[1], argv[3]) != 0) {
        return 2;
    }
    argv++;
    out = fopen(argv[2], "ab");
#else
    if (argc != 3) {
        fprintf(stderr, "usage: %s rows.f32 out.bin\n", argv[0]);
        return 2;
    }
    out = fopen(argv[2], "wb");
#endif
    in = fopen(argv[1], "rb");
    if (in == NULL || out == NULL) {
        fprintf(stderr, "cannot open files\n");
        return 2;
    }
    while (fread(x, sizeof x[0], TG(_N_FEATURES), in) == TG(_N_FEATURES)) {
        TG(_scores)(x, scores);
        prediction = TG(_predict)(x);
#ifdef TG_FIXED
        {
            TG(_input_t) x_q[TG(_N_FEATURES)];
            TG(_score_t) scores_q[TG(_N_OUTPUTS)];
            TG(_quantize_input)(x, x_q);
            TG(_scores_q)(x_q, scores_q);
            if (memcmp(scores, scores_q, sizeof scores) != 0 || TG(_predict_q)(x_q) != prediction) {
                split_mismatches++;
            }
        }
#endif
#ifdef TG_TRAIN
        {
            TG(_score_t) scores_own[TG(_N_OUTPUTS)];
            TG(_scores_state)(&own_state, x, scores_own);
            if (memcmp(scores, scores_own, sizeof scores) != 0 || TG(_predict_state)(&own_state, x) != prediction) {
                split_mismatches++;
            }
        }
#endif
        fwrite(scores, sizeof scores[0], TG(_N_OUTPUTS), out);
        fwrite(&prediction, sizeof prediction, 1, out);
#ifdef TG_PROBA
        {
            uint16_t proba[TG(_N_CLASSES)];
            uint16_t proba_q[TG(_N_CLASSES)];
            uint16_t proba_scores[TG(_N_CLASSES)];
            TG(_input_t) x_q[TG(_N_FEATURES)];
            TG(_predict_proba)(x, proba);
            TG(_quantize_input)(x, x_q);
            TG(_predict_proba_q)(x_q, proba_q);
            TG(_proba_from_scores)(scores, proba_scores);
            if (memcmp(proba, proba_q, sizeof proba) != 0 || memcmp(proba, proba_scores, sizeof proba) != 0) {
                split_mismatches++;
            }
            fwrite(proba, sizeof proba[0], TG(_N_CLASSES), out);
        }
#endif
#ifdef TG_ANOMALY
        {
            int32_t anomaly_q[2];
            float anomaly_f[2];
            anomaly_q[0] = TG(_score_samples_int)(x);
            anomaly_q[1] = TG(_decision_function_int)(x);
            anomaly_f[0] = TG(_score_samples)(x);
            anomaly_f[1] = TG(_decision_function)(x);
            fwrite(anomaly_q, sizeof anomaly_q[0], 2, out);
            fwrite(anomaly_f, sizeof anomaly_f[0], 2, out);
        }
#endif
        rows++;
    }
    fclose(in);
    if (fclose(out) != 0) {
        return 2;
    }
    fprintf(stderr, "rows %ld\n", rows);
#ifdef TG_TRAIN
    split_mismatches += train_mismatches;
#endif
    if (split_mismatches != 0) {
        fprintf(stderr, "scores_q(quantize_input(x)) != scores(x) (or the predict_proba variants differ) on %ld rows\n",
                split_mismatches);
        return 3;
    }
    return 0;
}
