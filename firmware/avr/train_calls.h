/* The training calls of the AVR check firmwares (trainable headers, -DTG_TRAIN), shared by the sized firmware
 * (predict.c, where main.c times one partial_fit step) and the run firmware (model.c); each firmware links one of
 * them. Include after TG_HEADER and the TG() macro. */
/* Trainable headers: one partial_fit step of the default state (timed by main.c), and what it reports after them. */
void tg_partial_fit(const float *x, float label, int32_t class_index);
void tg_load_weights(const uint8_t *bytes);
const uint8_t *tg_weights(void);
uint32_t tg_steps(void);
uint32_t tg_saturations(void);

/* label: a regressor's target; class_index: the classifier's label, converted by the caller outside the timing */
void tg_partial_fit(const float *x, float label, int32_t class_index)
{
#if defined(TG_STUB)
    (void)x;
    (void)label;
    (void)class_index;
#elif defined(TG_REGRESSION)
    (void)class_index;
    TG(_partial_fit_reg)(x, label);
#else
    (void)label;
    TG(_partial_fit)(x, class_index);
#endif
}

/* NAME_load_weights before the updates (main.c, -DTG_TRAIN_START: a fleet round's global weights). */
void tg_load_weights(const uint8_t *bytes)
{
#ifdef TG_STUB
    (void)bytes;
#else
    TG(_load_weights)(bytes);
#endif
}

const uint8_t *tg_weights(void)
{
#ifdef TG_STUB
    static const uint8_t zero = 0u; /* the stub is sized, never run */
    return &zero;
#else
    return TG(_weights)();
#endif
}

uint32_t tg_steps(void)
{
#ifdef TG_STUB
    return 0u;
#else
    return TG(_steps)();
#endif
}

uint32_t tg_saturations(void)
{
#ifdef TG_STUB
    return 0u;
#else
    return TG(_saturations)();
#endif
}
