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

int TG_MAIN(int argc, char **argv)
{
    float x[TG(_N_FEATURES)];
    TG(_score_t) scores[TG(_N_OUTPUTS)];
    TG(_prediction_t) prediction;
    FILE *in;
    FILE *out;
    long rows = 0;
    long split_mismatches = 0;

    if (argc != 3) {
        fprintf(stderr, "usage: %s rows.f32 out.bin\n", argv[0]);
        return 2;
    }
    in = fopen(argv[1], "rb");
    out = fopen(argv[2], "wb");
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
    if (split_mismatches != 0) {
        fprintf(stderr, "scores_q(quantize_input(x)) != scores(x) (or the predict_proba variants differ) on %ld rows\n",
                split_mismatches);
        return 3;
    }
    return 0;
}
