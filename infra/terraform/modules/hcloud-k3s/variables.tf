variable "name" {
  type        = string
  description = "Cluster name; prefix of every server, network and firewall."
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{2,30}$", var.name))
    error_message = "name must be 3-31 lowercase letters, digits or dashes, starting with a letter."
  }
}

variable "location" {
  type        = string
  description = "Hetzner location of the servers."
  default     = "fsn1"
  validation {
    condition     = contains(["fsn1", "nbg1", "hel1", "ash", "hil", "sin"], var.location)
    error_message = "location must be one of fsn1, nbg1, hel1, ash, hil, sin."
  }
}

variable "network_zone" {
  type        = string
  description = "Network zone of the private network; must contain the location."
  default     = "eu-central"
  validation {
    condition     = contains(["eu-central", "us-east", "us-west", "ap-southeast"], var.network_zone)
    error_message = "network_zone must be eu-central, us-east, us-west or ap-southeast."
  }
}

variable "network_cidr" {
  type        = string
  description = "CIDR of the private network the nodes talk over; the servers' subnet is its first /24."
  default     = "10.30.0.0/16"
  validation {
    condition     = can(cidrhost(var.network_cidr, 0)) && tonumber(split("/", var.network_cidr)[1]) <= 20
    error_message = "network_cidr must be a valid IPv4 CIDR of /20 or larger."
  }
}

variable "k3s_version" {
  type        = string
  description = "k3s release installed on every node, pinned so nodes never drift apart."
  default     = "v1.31.4+k3s1"
  validation {
    condition     = can(regex("^v1\\.[0-9]+\\.[0-9]+\\+k3s[0-9]+$", var.k3s_version))
    error_message = "k3s_version must look like v1.31.4+k3s1."
  }
}

variable "server_count" {
  type        = number
  description = "Control plane nodes (embedded etcd): 1 for dev, 3 to survive the loss of one."
  default     = 3
  validation {
    condition     = contains([1, 3, 5], var.server_count)
    error_message = "server_count must be 1, 3 or 5 (an odd etcd quorum)."
  }
}

variable "server_type" {
  type        = string
  description = "Hetzner server type of the control plane nodes."
  default     = "cpx21"
  validation {
    condition     = can(regex("^(cx|cpx|cax|ccx)[0-9]{2}$", var.server_type))
    error_message = "server_type must be a Hetzner type such as cpx21 or cax21."
  }
}

variable "agent_count" {
  type        = number
  description = "Worker nodes."
  default     = 3
  validation {
    condition     = var.agent_count >= 0 && var.agent_count <= 50
    error_message = "agent_count must be between 0 and 50."
  }
}

variable "agent_type" {
  type        = string
  description = "Hetzner server type of the worker nodes."
  default     = "cpx31"
  validation {
    condition     = can(regex("^(cx|cpx|cax|ccx)[0-9]{2}$", var.agent_type))
    error_message = "agent_type must be a Hetzner type such as cpx31 or cax31."
  }
}

variable "image" {
  type        = string
  description = "Operating system image of every node."
  default     = "ubuntu-24.04"
  validation {
    condition     = can(regex("^(ubuntu|debian)-[0-9.]+$", var.image))
    error_message = "image must be an Ubuntu or Debian image name, e.g. ubuntu-24.04."
  }
}

variable "ssh_key_ids" {
  type        = list(string)
  description = "IDs or names of hcloud SSH keys allowed on the nodes (break-glass access only)."
  validation {
    condition     = length(var.ssh_key_ids) > 0
    error_message = "Give at least one SSH key; without one Hetzner mails a root password."
  }
}

variable "api_allowed_cidrs" {
  type        = list(string)
  description = "CIDRs allowed to reach the Kubernetes API (6443) and SSH (22, the one-time bootstrap), e.g. the CI runners' and admins' egress."
  validation {
    condition     = length(var.api_allowed_cidrs) > 0 && alltrue([for c in var.api_allowed_cidrs : can(cidrhost(c, 0)) && c != "0.0.0.0/0"])
    error_message = "api_allowed_cidrs must be non-empty valid CIDRs, never 0.0.0.0/0."
  }
}

variable "ssh_allowed_cidrs" {
  type        = list(string)
  description = "CIDRs allowed to SSH to the nodes besides api_allowed_cidrs (where Terraform runs and bootstraps them from)."
  default     = []
  validation {
    condition     = alltrue([for c in var.ssh_allowed_cidrs : can(cidrhost(c, 0)) && c != "0.0.0.0/0"])
    error_message = "ssh_allowed_cidrs must be valid CIDRs, never 0.0.0.0/0."
  }
}

variable "labels" {
  type        = map(string)
  description = "Labels on every hcloud resource (Hetzner's tags)."
  default     = {}
  validation {
    condition     = alltrue([for k, v in var.labels : can(regex("^[a-z0-9A-Z._/-]{1,63}$", k)) && can(regex("^[a-z0-9A-Z._-]{0,63}$", v))])
    error_message = "Label keys and values must be Hetzner label syntax, at most 63 characters."
  }
}
