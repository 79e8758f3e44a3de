#!/usr/bin/env bash
# placeholder
mkdir -p "$1"
