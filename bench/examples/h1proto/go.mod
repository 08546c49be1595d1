module lbbench/h1proto

go 1.22
