"""Numbers quoted from the paper (Yao et al.), shown beside ours in the reports, never computed.

The paper works on 256x256 Kaggle images with ImageNet-pretrained ResNet-50 (2-D) and a
private brain-CT set with a 3-D ResNet-18; hfcbench runs on the MedMNIST versions of the public
sets (28x28) with small ResNets, and on AdrenalMNIST3D in place of the private brain set. The
mapping below pairs each hfcbench dataset with the paper's dataset of the same task.
"""

from __future__ import annotations

PAPER_DATASET = {"pneumoniamnist": "Chest X-ray", "retinamnist": "Fundoscopy", "adrenalmnist3d": "Brain",
                 "adrenalmnist3d_64": "Brain", "cifar10": "CIFAR-10"}

# Table I: AUC (%) before -> after HFC, ResNet-50 (3-D ResNet-18 for Brain), eps 1/256
TABLE1 = {
    "Fundoscopy": {
        "mim": {"kd": (98.8, 72.0), "maha": (100, 7.8), "lid": (98.8, 67.1), "svm": (96.9, 27.3), "dnn": (100, 31.5), "bu": (89.9, 33.5)},
        "tim": {"kd": (99.3, 69.9), "maha": (100, 8.5), "lid": (98.0, 59.4), "svm": (99.6, 46.2), "dnn": (100, 70.0), "bu": (88.5, 18.0)},
        "pgd": {"kd": (99.4, 73.4), "maha": (100, 4.2), "lid": (99.6, 73.2), "svm": (99.8, 23.1), "dnn": (100, 58.6), "bu": (61.9, 35.9)},
        "cw": {"kd": (99.5, 74.7), "maha": (99.8, 33.0), "lid": (98.8, 73.4), "svm": (99.8, 27.0), "dnn": (100, 62.6), "bu": (93.0, 32.8)},
    },
    "Chest X-ray": {
        "mim": {"kd": (100, 67.9), "maha": (100, 0.0), "lid": (100, 47.5), "svm": (100, 8.9), "dnn": (100, 35.5), "bu": (100, 15.2)},
        "tim": {"kd": (99.3, 74.6), "maha": (100, 5.4), "lid": (99.6, 61.1), "svm": (98.5, 6.9), "dnn": (100, 55.6), "bu": (94.6, 7.1)},
        "pgd": {"kd": (100, 82.3), "maha": (100, 0.0), "lid": (100, 49.1), "svm": (100, 5.8), "dnn": (100, 33.7), "bu": (49.2, 26.2)},
        "cw": {"kd": (99.2, 71.5), "maha": (100, 22.4), "lid": (99.2, 64.5), "svm": (100, 21.2), "dnn": (100, 61.6), "bu": (98.3, 26.2)},
    },
    "Brain": {
        "mim": {"kd": (100, 50.8), "maha": (100, 0.0), "lid": (100, 50.3), "svm": (100, 72.9), "bu": (100, 45.8)},
        "tim": {"kd": (100, 56.3), "maha": (100, 0.0), "lid": (100, 57.2), "svm": (100, 66.5), "bu": (100, 35.4)},
        "pgd": {"kd": (100, 61.5), "maha": (100, 0.0), "lid": (100, 49.3), "svm": (100, 75.5), "bu": (100, 43.7)},
        "cw": {"kd": (100, 60.6), "maha": (100, 0.0), "lid": (100, 58.2), "svm": (100, 77.9), "bu": (100, 38.5)},
    },
}

# Table II: AUC (%) after each adaptive attack on BIM-fitted detectors, and Adv. Acc (%)
TABLE2_COLUMNS = ("kd", "maha", "lid", "svm", "dnn", "adv_acc")
TABLE2 = {
    "Fundoscopy": {"random": (75.1, 86.1, 91.7, 48.2, 93.7, 100.0), "closest": (77.0, 64.0, 91.0, 13.0, 79.3, 81.5),
                   "kde": (51.6, 86.5, 90.9, 45.3, 95.0, 100.0), "lid": (87.6, 85.4, 93.4, 61.2, 96.2, 95.9),
                   "bim+hfc": (74.2, 6.4, 78.3, 28.6, 60.0, 99.5)},
    "Chest X-ray": {"random": (77.0, 64.0, 91.0, 13.0, 79.3, 94.8), "closest": (80.1, 38.3, 71.3, 9.0, 87.7, 53.1),
                    "kde": (58.2, 66.9, 71.7, 15.3, 95.6, 100.0), "lid": (84.0, 66.6, 77.1, 28.6, 96.6, 70.9),
                    "bim+hfc": (70.8, 0.0, 53.6, 16.7, 32.6, 95.8)},
}

# Table III (Fundoscopy only): AUC (%) after BIM+HFC for each number of mixture components M
TABLE3 = {"M": (1, 2, 4, 8, 16, 32, 64, 128),
          "kd": (75.8, 78.5, 77.9, 77.8, 73.6, 73.3, 74.2, 74.4), "maha": (5.9, 5.6, 6.2, 7.1, 8.2, 8.6, 7.6, 5.9),
          "lid": (81.7, 82.4, 83.0, 84.2, 83.2, 80.7, 78.3, 78.7), "svm": (52.3, 45.7, 40.4, 34.0, 31.4, 34.5, 35.5, 40.3),
          "dnn": (61.4, 60.7, 62.6, 64.3, 64.4, 63.5, 63.4, 64.9), "bu": (55.5, 52.2, 49.7, 45.2, 43.3, 42.6, 43.8, 42.6)}

# Table IV: semi-white-box BIM without / with HFC, ResNet-50, eps 4/256: AUC (%) and Adv. Acc (%)
TABLE4 = {
    "Fundoscopy": {"bim": (98.7, 100.0, 99.5, 92.1, 100.0, 83.2), "bim+hfc": (78.0, 9.1, 68.0, 16.9, 43.8, 68.2)},
    "Chest X-ray": {"bim": (92.6, 95.4, 79.5, 24.1, 99.5, 85.8), "bim+hfc": (89.4, 85.9, 71.5, 11.4, 79.5, 76.4)},
}

# Table V: AUC (%) of BIM and BIM+HFC, CIFAR-10 at 8/256 and 16/256, chest X-ray at 1/256
TABLE5_COLUMNS = ("kd", "maha", "lid", "svm", "dnn")
TABLE5 = {("CIFAR-10", "8/256"): {"bim": (76.4, 91.4, 80.8, 96.9, 99.8), "bim+hfc": (30.1, 82.7, 58.7, 87.9, 87.3)},
          ("CIFAR-10", "16/256"): {"bim": (87.5, 99.0, 90.3, 99.0, 100.0), "bim+hfc": (24.0, 76.4, 54.1, 85.8, 80.7)},
          ("Chest X-ray", "1/256"): {"bim": (100.0, 100.0, 100.0, 100.0, 100.0),
                                     "bim+hfc": (71.3, 0.0, 48.6, 16.7, 31.8)}}

# Table VI: AUC (%) of the HFC score against synthesized lesions, and false-prediction rate FR (%)
TABLE6 = {"Fundoscopy": {("small", 2): (87.4, 0.2), ("small", 4): (92.4, 0.6), ("small", 6): (94.6, 0.7),
                         ("medium", 1): (84.9, 0.2), ("medium", 2): (91.4, 0.2), ("medium", 4): (95.5, 0.5),
                         ("large", 1): (91.9, 0.2), ("large", 2): (94.9, 0.4), ("large", 3): (97.2, 0.5)},
          "Chest X-ray": {("small", 2): (94.4, 1.2), ("small", 4): (97.7, 4.3), ("small", 6): (98.1, 10.0),
                          ("medium", 1): (94.8, 0.5), ("medium", 2): (97.9, 1.2), ("medium", 4): (99.5, 3.4),
                          ("large", 1): (98.1, 2.1), ("large", 2): (99.6, 4.3), ("large", 3): (99.7, 7.5)}}


def paper_name(dataset: str) -> str | None:
    return PAPER_DATASET.get(dataset)


def attack_rows(table: dict, dataset: str) -> tuple[list[str], list[list]] | None:
    """Headers and rows of Table II or IV (attack -> KD, MAHA, LID, SVM, DNN AUC and Adv. Acc) for
    the paper's counterpart of ``dataset``, or None when the paper has no such table."""
    values = table.get(paper_name(dataset))
    if values is None:
        return None
    return ["attack", *TABLE2_COLUMNS[:-1], "Adv. Acc"], [[a, *[f"{v:.1f}" for v in row]] for a, row in values.items()]
