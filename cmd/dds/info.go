package main

import (
	"context"
	"fmt"
)

type infoOptions struct{ node *nodeOptions }

func infoCommand(fs *flagSet) runner {
	o := &infoOptions{node: nodeFlags(fs)}
	return o.run
}

func (o *infoOptions) run(ctx context.Context, a *app, args []string) error {
	if err := wantArgs(args, "ID"); err != nil {
		return err
	}
	c, err := o.node.client(a)
	if err != nil {
		return err
	}
	f, err := c.File(ctx, args[0])
	if err != nil {
		return fmt.Errorf("file %s: %w", args[0], err)
	}
	return printFile(a.stdout, o.node.json, f)
}
