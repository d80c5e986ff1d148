"""Dataset readers for supervised search (architecture search, optimizer discovery).

No torchvision: IDX (MNIST, Fashion-MNIST), CIFAR batch files, image folders, .npz and CSV are
read here directly, and never with pickle on user files.
"""

from evoforge.data.datasets import DATASETS, Dataset, DatasetError, DatasetSpec, load_dataset

__all__ = ["DATASETS", "Dataset", "DatasetError", "DatasetSpec", "load_dataset"]
