"""Shrinking built-in pair configs to test size (shared by pipeline and selection tests)."""


def shrink(cfg, n=192, test=48, epochs=1, **extra):
    upd = {"max_train_samples": n, "epochs": epochs, "batch_size": 32, "tensorboard": False}
    return cfg.model_copy(update={
        "teacher_train": cfg.teacher_train.model_copy(update=upd),
        "student_train": cfg.student_train.model_copy(update=upd),
        "transfer_train": cfg.transfer_train.model_copy(update=upd),
        "eval": cfg.eval.model_copy(update={"max_test_samples": test,
                                            "train_corruption_samples": test and test // 2,
                                            "cka_samples": test or 64}),
        **extra,
    })
