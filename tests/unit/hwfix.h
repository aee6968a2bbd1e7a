/*
 * hwfix.h - TEST FIXTURE: shape-correct hardware graphs (the operators of
 * nash-ops(7), H x W x C streams, integer weights and thresholds of the
 * right datatypes with random values) for TFC, CNV, the cybersecurity MLP
 * of FINN's tutorial and ResNet18 (224x224 ImageNet stem, or the small
 * 1x28x28 stem at any base width).
 *
 * This stands in for nash-stream, which does not exist yet. It is only for
 * nash-est's tests and benchmark; it goes away once real nash-stream output
 * can be used instead. The cost models in lib/hw do not depend on it.
 *
 * Unit tests and benchmarks are single files, so include hwfix.c (not just
 * this header) in exactly one source of each program.
 */
#ifndef NASH_HWFIX_H
#define NASH_HWFIX_H

#include "core/nash.h"

/* BNN-PYNQ TFC-w1a1: 784-64-64-64-10 binarized MLP on MNIST, with the
 * input thresholding and a LabelSelect. */
nash_graph *hwfix_tfc(void);
/* BNN-PYNQ CNV-w1a1 on CIFAR-10: six 3x3 convolutions (64, 64, 128, 128,
 * 256, 256 channels), two max-pools, three FC layers, LabelSelect. */
nash_graph *hwfix_cnv(void);
/* The cybersecurity MLP of FINN's end-to-end tutorial: 600 binary inputs,
 * 64-64-64-1 with 2-bit weights and activations. */
nash_graph *hwfix_cybsec(void);
/* ResNet18 as nash-stream would lower NASH's reference model: imagenet
 * chooses the 224x224x3 stem (7x7/2 conv, 3x3/2 max-pool, 1000 classes),
 * else the small 28x28x1 stem (3x3 conv, 10 classes); width is the base
 * channel count (64 for the standard network). 8-bit stem, downsample and
 * FC weights, 2-bit backbone weights and activations, 8-bit adder inputs,
 * 4-bit pooled features. */
nash_graph *hwfix_resnet18(int imagenet, int width);

/* Write a graph record to a file (for the bats suite); 0 or -1. */
int hwfix_save(const nash_graph *g, const char *path);

#endif
