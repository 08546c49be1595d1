module github.com/barkeep-lb/barkeep

go 1.26
