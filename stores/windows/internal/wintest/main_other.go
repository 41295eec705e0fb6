//go:build !windows

package main

import "errors"

func run([]string) error { return errors.New("wintest runs on Windows (or under Wine) only") }
