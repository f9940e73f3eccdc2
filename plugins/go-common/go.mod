module wasmplugin.test/plugins/go-common

go 1.25
