from ...cli.sandbox_salesforce import command

if __name__ == "__main__":
    command()  # pylint: disable=no-value-for-parameter
