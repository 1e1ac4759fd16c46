/* Using a tinygen header from plain C: classify one row of features given on the command line.
 *
 *   tinygen export m.skops --dtype q15 --calibration data.csv --label target --name activity -o out/
 *   gcc -std=c99 -O2 -I out examples/host_c/main.c -o classify
 *   ./classify 17.99 10.38 122.8 ...     (30 numbers for breast_cancer)
 */
#include <stdio.h>
#include <stdlib.h>

#include "activity.h"

int main(int argc, char **argv)
{
    float x[activity_N_FEATURES];
    activity_score_t scores[activity_N_OUTPUTS];
    int i;

    if (argc != activity_N_FEATURES + 1) {
        fprintf(stderr, "give %d feature values\n", activity_N_FEATURES);
        return 2;
    }
    for (i = 0; i < activity_N_FEATURES; i++) {
        x[i] = strtof(argv[i + 1], NULL);
    }
    activity_scores(x, scores); /* the raw integers, bit-exact with `tinygen simulate` */
    printf("class %ld (%s), score %ld\n", (long)activity_predict(x), activity_label(activity_predict(x)),
           (long)scores[0]);
    return 0;
}
