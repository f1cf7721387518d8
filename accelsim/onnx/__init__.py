"""ONNX models as workloads: float and QDQ import, integer layers under a contract, diagnosis."""
